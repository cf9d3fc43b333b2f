# SPDX-License-Identifier: GPL-2.0-only
"""flowsight: NFStream 6.5.4's Python API (NFStreamer, NFPlugin, NFlow,
flowsight.plugins) on libflowsight, the C engine of the flowsight agent.
Replace `from nfstream import ...` by `from flowsight import ...`."""
from ._ffi import lib as _lib, ffi as _ffi, LIBRARY_PATH
from .flow import NFlow, NFPacket, UDPS
from .plugin import NFPlugin
from .streamer import NFStreamer

__version__ = _ffi.string(_lib.fs_version()).decode()
__all__ = ["NFStreamer", "NFPlugin", "NFlow", "NFPacket", "UDPS", "LIBRARY_PATH"]
