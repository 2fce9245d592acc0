// The server-sent events reader and watchProfile's reconnect rules, with a fetch that streams made-up answers
// (cut into awkward chunks). client.test.ts drives watchProfile against the real gateway.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AuthError, createTokenClient, readServerSentEvents, UnavailableError } from '../src/index'
import type { ServerSentEvent, TokenApiError, TokenNetworkError, UserProfileData } from '../src/index'

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
      controller.close()
    },
  })
}

async function eventsOf(chunks: string[]): Promise<ServerSentEvent[]> {
  const seen: ServerSentEvent[] = []
  await readServerSentEvents(streamOf(chunks), (event) => seen.push(event))
  return seen
}

test('events are parsed across chunk boundaries; comments are skipped; CRLF works', async () => {
  const events = await eventsOf([
    ': keep-alive\n\nevent: prof',
    'ile\ndata: {"tokens":1}\n',
    '\n: keep-alive\n\n',
    'event: profile\r',
    '\ndata: {"tokens":2}\r\n\r\n',
    'data: line one\ndata: line two\n\n',
    'event: expired\ndata: {"reason":"TOKEN_EXPIRED"}\n\n',
    'event: cut\ndata: never finished',
  ])
  assert.deepEqual(events, [
    { event: 'profile', data: '{"tokens":1}' },
    { event: 'profile', data: '{"tokens":2}' },
    { event: 'message', data: 'line one\nline two' },
    { event: 'expired', data: '{"reason":"TOKEN_EXPIRED"}' },
  ])
})

const profile = (tokens: number) => ({ uid: 'u1', tokens }) as unknown as UserProfileData
const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

// A client whose fetch plays `answers` in order (then hangs until aborted), recording the tokens it was sent.
function scripted(answers: (() => Response)[]) {
  const tokens: string[] = []
  let minted = 0
  const client = createTokenClient({
    baseUrl: 'http://gateway.test',
    getIdToken: async () => `token-${++minted}`,
    fetch: async (_input, init) => {
      tokens.push(new Headers(init?.headers).get('Authorization') ?? '')
      const next = answers.shift()
      if (next) return next()
      return new Promise<Response>((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      )
    },
  })
  return { client, tokens }
}

const streaming = (...chunks: string[]) => () =>
  new Response(streamOf(chunks), { status: 200, headers: { 'Content-Type': 'text/event-stream' } })

test('watchProfile reconnects with a fresh ID token when the stream says the token expired', async () => {
  const { client, tokens } = scripted([
    streaming(sse('profile', profile(1)), sse('expired', { reason: 'TOKEN_EXPIRED' })),
    streaming(sse('profile', profile(2))),
  ])
  const seen: number[] = []
  let reconnected!: () => void
  const second = new Promise<void>((resolve) => (reconnected = resolve))
  const watch = client.watchProfile(
    (p) => {
      seen.push(p.tokens)
      if (seen.length === 2) reconnected()
    },
    { retryDelayMs: 10 },
  )
  await second
  watch.close()
  await watch.closed
  assert.deepEqual(seen, [1, 2])
  assert.deepEqual(tokens.slice(0, 2), ['Bearer token-1', 'Bearer token-2'])
})

test('watchProfile retries a 503 and stops on a 401, telling onError', async () => {
  const unavailable = () =>
    new Response(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'down', reason: 'UNAVAILABLE' } }), {
      status: 503,
    })
  const unauthenticated = () =>
    new Response(JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'no', reason: 'TOKEN_EXPIRED' } }), {
      status: 401,
    })
  const { client } = scripted([unavailable, unauthenticated])
  const errors: [TokenApiError | TokenNetworkError, boolean][] = []
  const watch = client.watchProfile(() => assert.fail('no profile expected'), {
    retryDelayMs: 10,
    onError: (error, willRetry) => errors.push([error, willRetry]),
  })
  await watch.closed // ends by itself: a 401 is not retried
  assert.equal(errors.length, 2)
  assert(errors[0]?.[0] instanceof UnavailableError && errors[0][1] === true)
  assert(errors[1]?.[0] instanceof AuthError && errors[1][1] === false)
})
