/**
 * Reads a `text/event-stream` body (WHATWG HTML, "Server-sent events") and hands each event's
 * data to `onData`. Linear in the input; an event larger than `maxBytes` ends the stream (an
 * upstream that sends one is not to be buffered without bound). Comments, ids and retry fields
 * are ignored: the gateway does not resume upstream streams.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  signal: AbortSignal,
  onData: (data: string) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const stop = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', stop, { once: true });
  let buffer = '';
  let data: string[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let start = 0;
      for (let end = buffer.indexOf('\n', start); end !== -1; end = buffer.indexOf('\n', start)) {
        const line = buffer.slice(start, end).replace(/\r$/, '');
        start = end + 1;
        if (line === '') {
          if (data.length > 0) onData(data.join('\n'));
          data = [];
          size = 0;
        } else if (line.startsWith('data:')) {
          const value = line.slice(line.startsWith('data: ') ? 6 : 5);
          size += value.length;
          data.push(value);
        }
      }
      buffer = buffer.slice(start);
      if (size + buffer.length > maxBytes) throw new Error('an upstream event is too large');
    }
  } finally {
    signal.removeEventListener('abort', stop);
    stop();
  }
}
