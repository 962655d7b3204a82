// Server-sent events over fetch: EventSource cannot POST, so the text route's stream is read from
// the Response body (a ReadableStream) and parsed here (https://html.spec.whatwg.org/#parsing-an-event-stream).

export async function* readEvents(body, signal) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data = [];
  const abort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", abort, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        const width = buffer[newline] === "\r" && buffer[newline + 1] === "\n" ? 2 : 1;
        if (buffer[newline] === "\r" && newline + 1 === buffer.length) break; // a \r\n may be split
        buffer = buffer.slice(newline + width);
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
    }
    // An event not ended by a blank line when the stream closes is discarded (as the spec says).
  } finally {
    signal?.removeEventListener("abort", abort);
    reader.releaseLock?.();
  }
}
