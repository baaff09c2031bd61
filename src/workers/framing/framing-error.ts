/**
 * The upstream's bytes break their own framing (an SSE event over its size limit; an event-stream frame
 * with a bad length, CRC or header). The decoders throw only this, for any bytes whatsoever; the
 * exchange turns it into a failed attempt (`upstream_unreachable`, "sent a malformed stream").
 */
export class FramingError extends Error {}
