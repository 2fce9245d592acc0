// A typed client for the token gateway. It replaces the original app's userprofileAPI.ts and stripeAPI.ts
// (same names and signatures) and needs nothing at run time but `fetch`.
//
//   const tokens = createTokenClient({ baseUrl, getIdToken: () => auth.currentUser!.getIdToken() })
//   const profile = await tokens.getUserProfile()
import { errorFromResponse, NotFoundError, TokenNetworkError } from './errors'
import type {
  CheckoutMode,
  CheckoutOptions,
  CheckoutSession,
  CheckoutSessionStatus,
  Price,
  TokenHistoryPage,
  TokenHistoryQuery,
  UserDataUpdate,
  UserProfileData,
} from './models'
import type { paths } from './schema'

export interface TokenClientOptions {
  // The gateway, e.g. "http://localhost:8080"; "" for the page's own origin (a rewrite in next.config.js).
  baseUrl: string
  // The signed-in user's Firebase ID token; Firebase refreshes it when it is about to expire.
  getIdToken: () => Promise<string>
  // Defaults to the global fetch.
  fetch?: typeof fetch
}

export interface TokenClient {
  // The caller's profile; created (0 tokens) on the first call after sign-up.
  getUserProfile(): Promise<UserProfileData>
  // Sign-up, or on later sign-ins records last_login and follows an email change. Idempotent.
  createUserProfile(): Promise<UserProfileData>
  // Only display_name can change; naming tokens or any other read-only field is a ValidationError.
  updateUserProfile(update: UserDataUpdate): Promise<UserProfileData>
  // Starts Stripe Checkout: send the browser to the returned `url` (`window.location.assign(session.url)`).
  createCheckoutSession(price_id: string, mode: CheckoutMode, options?: CheckoutOptions): Promise<CheckoutSession>
  // The success page's check (pass ?session_id=): grants the tokens if paid, exactly once, and says so.
  getCheckoutSession(session_id: string): Promise<CheckoutSessionStatus>
  // Newest first; pass `next_page_token` back as `page_token` for the next page (null on the last).
  listTokenHistory(query?: TokenHistoryQuery): Promise<TokenHistoryPage>
  listPrices(): Promise<Price[]>
}

type Method = 'get' | 'post' | 'patch'
// The JSON body of an operation's success answer, from the generated schema: a path or method the gateway
// does not have does not compile.
type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never
type Success<Op> = Op extends { responses: infer R } ? JsonOf<R[keyof R & (200 | 201)]> : never
type JsonBody<Op> = Op extends { requestBody: infer B } ? JsonOf<B> : never
type MethodOf<P extends keyof paths> = { [M in Method]: paths[P][M] extends { responses: unknown } ? M : never }[Method]

interface CallOptions<Op> {
  params?: Record<string, string>
  query?: Record<string, string | number | null | undefined>
  body?: JsonBody<Op>
  headers?: Record<string, string>
}

export function createTokenClient(options: TokenClientOptions): TokenClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))

  async function request<P extends keyof paths, M extends MethodOf<P>>(
    method: M,
    path: P,
    init: CallOptions<paths[P][M]> = {},
  ): Promise<Success<paths[P][M]>> {
    let url = baseUrl + path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(init.params?.[name] ?? ''))
    const query = new URLSearchParams()
    for (const [key, value] of Object.entries(init.query ?? {})) {
      if (value !== undefined && value !== null) query.set(key, String(value))
    }
    if (query.toString()) url += `?${query}`
    const headers: Record<string, string> = {
      Accept: 'application/json',
      Authorization: `Bearer ${await options.getIdToken()}`,
      ...init.headers,
    }
    if (init.body !== undefined) headers['Content-Type'] = 'application/json'

    let response: Response
    try {
      response = await doFetch(url, {
        method: method.toUpperCase(),
        headers,
        body: init.body === undefined ? null : JSON.stringify(init.body),
        cache: 'no-store',
      })
    } catch (cause) {
      if (cause instanceof Error && cause.name === 'AbortError') throw cause
      throw new TokenNetworkError(`${method.toUpperCase()} ${url} failed: ${String(cause)}`, { cause })
    }
    if (!response.ok) throw await errorFromResponse(response)
    return (await response.json()) as Success<paths[P][M]>
  }

  const createUserProfile = () => request('post', '/v1/profile')

  return {
    async getUserProfile() {
      try {
        return await request('get', '/v1/profile')
      } catch (err) {
        if (err instanceof NotFoundError && err.reason === 'PROFILE_NOT_FOUND') return createUserProfile()
        throw err
      }
    },
    createUserProfile,
    updateUserProfile: (update) => request('patch', '/v1/profile', { body: update }),
    createCheckoutSession: (price_id, mode, { idempotencyKey, ...rest } = {}) =>
      request('post', '/v1/checkout-sessions', {
        body: { ...rest, price_id, mode },
        headers: idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey },
      }),
    getCheckoutSession: (session_id) =>
      request('get', '/v1/checkout-sessions/{session_id}', { params: { session_id } }),
    listTokenHistory: (query = {}) => request('get', '/v1/profile/token-history', { query }),
    listPrices: async () => (await request('get', '/v1/prices')).prices,
  }
}
