/** The longest message DTM stores for a slot (a failure, a note, a reason); longer ones are cut, marked. */
export const MAX_MESSAGE_LENGTH = 10_000;

/**
 * `text` as PostgreSQL can store it: every NUL (which `text` cannot hold, and which makes the server drop the
 * connection when sent in a query) becomes U+FFFD, and more than `maxLength` characters are cut, marked with
 * an ellipsis. Lone surrogates need nothing: they are encoded as U+FFFD on their way to the server.
 */
export function storableText(text: string, maxLength = MAX_MESSAGE_LENGTH): string {
  const cleaned = text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
  return cleaned.length > maxLength ? `${cleaned.slice(0, maxLength - 1)}…` : cleaned;
}

/**
 * A failure's message from whatever the work threw (an Error, a string, null, an object whose `message` or
 * `toString` throws), storable; never throws.
 */
export function messageOf(error: unknown): string {
  let message: string;
  try {
    message = error instanceof Error ? String(error.message) : String(error);
  } catch {
    try {
      message = Object.prototype.toString.call(error);
    } catch {
      message = '';
    }
  }
  return message.trim().length > 0 ? storableText(message) : 'failed without a message';
}
