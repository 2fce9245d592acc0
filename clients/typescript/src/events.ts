// A small reader of server-sent events (text/event-stream) from a fetch() body. The gateway's
// GET /v1/profile/events needs the ID token in the Authorization header, which EventSource cannot send, so the
// client reads the stream with fetch and this.

export interface ServerSentEvent {
  event: string
  data: string
}

// Calls onEvent for each event until the stream ends (or `signal` aborts). Comments (": keep-alive") are skipped;
// multi-line data is joined with "\n", as EventSource does.
export async function readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: ServerSentEvent) => void,
): Promise<void> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let name = ''
  let data: string[] = []
  const line = (text: string) => {
    if (text === '') {
      if (data.length > 0) onEvent({ event: name || 'message', data: data.join('\n') })
      name = ''
      data = []
      return
    }
    if (text.startsWith(':')) return
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? '' : text.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') name = value
    else if (field === 'data') data.push(value)
  }
  try {
    for (;;) {
      const { done, value } = await reader.read()
      buffer += decoder.decode(value, { stream: !done })
      let end: number
      while ((end = buffer.search(/\r\n|\r|\n/)) !== -1) {
        if (!done && end === buffer.length - 1 && buffer[end] === '\r') break // maybe half of a \r\n
        const newline = buffer.startsWith('\r\n', end) ? 2 : 1
        line(buffer.slice(0, end))
        buffer = buffer.slice(end + newline)
      }
      if (done) return
    }
  } finally {
    reader.releaseLock()
  }
}
