/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * JA4 TLS client fingerprint (FoxIO "JA4: TLS Client Fingerprinting",
 * technical_details/JA4.md) computed from a raw ClientHello: the hashed
 * JA4, the raw JA4_r and the original-order JA4_o / JA4_ro variants.
 * Owns no state; depends on libc and libsodium (SHA-256) only.
 */
#ifndef FLOWSIGHT_JA4_H
#define FLOWSIGHT_JA4_H

#include <stddef.h>
#include <stdint.h>

#define JA4_STR_LEN 37 /* "t13d1516h2_8daaf6152771_b186095e22b6" + NUL */

/* Transport characters, the first character of every JA4. */
#define JA4_TRANSPORT_TCP 't'
#define JA4_TRANSPORT_QUIC 'q'
#define JA4_TRANSPORT_DTLS 'd'

/* Flags for ja4_client_hello_fmt(). */
#define JA4_FMT_RAW 0x1 /* print the lists instead of their hashes (JA4_r) */
#define JA4_FMT_ORIGINAL 0x2 /* keep wire order, keep SNI/ALPN (JA4_o) */

/*
 * ja4_client_hello() - JA4 of one ClientHello handshake message.
 * @hs:        the handshake message, starting at its type byte (0x01).  For
 *             DTLS the 12-byte DTLS handshake header is expected and the
 *             message must be reassembled (fragment offset 0, fragment
 *             length == message length).
 * @len:       bytes available at @hs; bytes after the message are ignored.
 * @transport: 't' (TLS over TCP), 'q' (QUIC) or 'd' (DTLS).
 * @out:       receives the NUL-terminated fingerprint, e.g.
 *             "t13d1516h2_8daaf6152771_e5627efa2ab1".  Set to "" on error.
 *
 * Never reads outside [@hs, @hs + @len).  Every length field of the message
 * and of the extensions JA4 looks into (ALPN, signature_algorithms,
 * supported_versions) must be consistent.
 *
 * Return: 0; -EAGAIN when @len ends before the message does (the header
 * announces more bytes); -EINVAL when the bytes are not a well-formed
 * ClientHello or @transport is unknown; -ENOMEM.
 */
int ja4_client_hello(const uint8_t *hs, size_t len, char transport, char out[JA4_STR_LEN]);

/*
 * ja4_client_hello_raw() - JA4_r (sorted lists, unhashed) of a ClientHello.
 * Same input rules as ja4_client_hello().  @outlen = 13 + 5 * (ciphers +
 * extensions + signature algorithms) always suffices (NUL included).
 *
 * Return: as ja4_client_hello(), plus -ENOSPC when @outlen is too small
 * (@out then holds "").
 */
int ja4_client_hello_raw(const uint8_t *hs, size_t len, char transport, char *out, size_t outlen);

/*
 * ja4_client_hello_fmt() - any of JA4, JA4_r, JA4_o, JA4_ro.
 * @flags: 0 (JA4), JA4_FMT_RAW (JA4_r), JA4_FMT_ORIGINAL (JA4_o) or both
 *         (JA4_ro).  The original-order forms keep the ciphers and
 *         extensions in wire order and keep SNI (0000) and ALPN (0010) in
 *         the extension list, as the spec's "Raw Output" section shows.
 *
 * Return: as ja4_client_hello_raw(); -EINVAL for unknown @flags.
 */
int ja4_client_hello_fmt(const uint8_t *hs, size_t len, char transport, unsigned int flags,
			 char *out, size_t outlen);

/*
 * ja4_from_tls_records() - JA4 of the ClientHello carried in TLS records.
 * @payload: TCP payload starting at a TLS record header (content type 22,
 *           version 3.x); the ClientHello may span several handshake
 *           records, all of which must lie in the buffer.
 * @len:     bytes at @payload.
 * @out:     as for ja4_client_hello(); transport is 't'.
 *
 * Return: 0; -EAGAIN when more payload is needed; -EINVAL when the records
 * or the ClientHello are malformed (wrong content type, zero-length or
 * over-long record, not a ClientHello); -ENOMEM.
 */
int ja4_from_tls_records(const uint8_t *payload, size_t len, char out[JA4_STR_LEN]);

#endif
