// The error mapping for answers the live stack cannot be made to give on demand (429, 503, a proxy's HTML
// 502, INSUFFICIENT_TOKENS), with a fetch that returns them. client.test.ts covers the rest against the gateway.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  createTokenClient,
  InsufficientTokensError,
  RateLimitedError,
  TokenApiError,
  TokenNetworkError,
  UnavailableError,
} from '../src/index'
import { rejection } from './support'

function answering(status: number, body: string, headers: Record<string, string> = {}) {
  const seen: { url: string; init: RequestInit | undefined }[] = []
  const client = createTokenClient({
    baseUrl: 'http://gateway.test/',
    getIdToken: async () => 'id-token',
    fetch: async (input, init) => {
      seen.push({ url: String(input), init })
      return new Response(body, { status, headers: { 'Content-Type': 'application/json', ...headers } })
    },
  })
  return { client, seen }
}

const errorBody = (code: string, reason: string, message = 'nope') => JSON.stringify({ error: { code, message, reason } })


test('429 is a RateLimitedError with retryAfter in seconds', async () => {
  const { client } = answering(429, errorBody('RESOURCE_EXHAUSTED', 'RATE_LIMITED'), {
    'Retry-After': '7',
    'X-Request-ID': 'req-429',
  })
  const err = await rejection(client.listPrices(), RateLimitedError)
  assert.equal(err.kind, 'rate_limited')
  assert.equal(err.status, 429)
  assert.equal(err.retryAfter, 7)
  assert.equal(err.requestId, 'req-429')
})

test('503 is an UnavailableError; Retry-After as an HTTP date becomes seconds', async () => {
  const inTenSeconds = new Date(Date.now() + 10_000).toUTCString()
  const { client } = answering(503, errorBody('UNAVAILABLE', 'UNAVAILABLE'), { 'Retry-After': inTenSeconds })
  const err = await rejection(client.getUserProfile(), UnavailableError)
  assert.equal(err.code, 'UNAVAILABLE')
  assert(err.retryAfter !== undefined && err.retryAfter > 5 && err.retryAfter <= 11, String(err.retryAfter))
})

test("a proxy's HTML 502 is still a typed UnavailableError", async () => {
  const { client } = answering(502, '<html>Bad Gateway</html>', { 'Content-Type': 'text/html' })
  const err = await rejection(client.listPrices(), UnavailableError)
  assert.equal(err.reason, 'HTTP_502')
  assert.equal(err.code, 'UNKNOWN')
})

test('409 INSUFFICIENT_TOKENS is an InsufficientTokensError', async () => {
  const { client } = answering(409, errorBody('FAILED_PRECONDITION', 'INSUFFICIENT_TOKENS', 'balance 0 < 1'))
  const err = await rejection(client.getUserProfile(), InsufficientTokensError)
  assert.equal(err.kind, 'insufficient_tokens')
  assert.equal(err.message, 'balance 0 < 1')
})

test('500 is a plain TokenApiError of kind server', async () => {
  const { client } = answering(500, errorBody('INTERNAL', 'INTERNAL'))
  const err = await rejection(client.listPrices(), TokenApiError)
  assert.equal(err.kind, 'server')
  assert.equal(err.constructor, TokenApiError)
})

test('a fetch that throws is a TokenNetworkError, not a TokenApiError', async () => {
  const client = createTokenClient({
    baseUrl: 'http://gateway.test',
    getIdToken: async () => 'id-token',
    fetch: async () => {
      throw new TypeError('fetch failed')
    },
  })
  const err = await rejection(client.listPrices(), TokenNetworkError)
  assert(!(err instanceof TokenApiError))
  assert(err.cause instanceof TypeError)
})

test('requests carry the bearer token, JSON body, idempotency key and query, on the trimmed base URL', async () => {
  const { client, seen } = answering(201, JSON.stringify({ id: 'cs_1', url: 'https://pay.test/cs_1' }))
  await client.createCheckoutSession('price_1', 'payment', { quantity: 2, idempotencyKey: 'buy-1' })
  await client.listTokenHistory({ page_size: 5, page_token: null })
  const [checkout, history] = seen
  assert(checkout && history)
  assert.equal(checkout.url, 'http://gateway.test/v1/checkout-sessions')
  const headers = checkout.init?.headers as Record<string, string>
  assert.equal(headers['Authorization'], 'Bearer id-token')
  assert.equal(headers['Idempotency-Key'], 'buy-1')
  assert.equal(checkout.init?.method, 'POST')
  assert.deepEqual(JSON.parse(String(checkout.init?.body)), { quantity: 2, price_id: 'price_1', mode: 'payment' })
  assert.equal(history.url, 'http://gateway.test/v1/profile/token-history?page_size=5')
})
