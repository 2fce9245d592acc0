// A typed client for the token gateway. It replaces the original app's userprofileAPI.ts and stripeAPI.ts
// (same names and signatures) and needs nothing at run time but `fetch`.
//
//   const tokens = createTokenClient({ baseUrl, getIdToken: () => auth.currentUser!.getIdToken() })
//   const profile = await tokens.getUserProfile()
import { errorFromResponse, NotFoundError, TokenApiError, TokenNetworkError } from './errors'
import { readServerSentEvents } from './events'
import type {
  BillingPortalSession,
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
  // Stripe's billing portal (payment methods, invoices, cancelling): send the browser to the returned `url`.
  // `return_url` (under the gateway's ALLOWED_REDIRECT_ORIGINS) defaults to its BILLING_PORTAL_RETURN_URL.
  // A user who never checked out gets a ConflictError with reason NO_STRIPE_CUSTOMER.
  createBillingPortalSession(return_url?: string): Promise<BillingPortalSession>
  // Live profile: onProfile gets the profile at once and again after every change (a purchase's webhook, a
  // spend, the subscription...). Reconnects by itself, with a fresh ID token when the old one expires, and
  // after network failures; stops on close() or an error that retrying cannot mend (onError gets it).
  watchProfile(onProfile: (profile: UserProfileData) => void, options?: WatchProfileOptions): ProfileWatch
}

export interface WatchProfileOptions {
  // Errors that end the watch (401, 404, ...) and, with `willRetry`, failures it retries.
  onError?: (error: TokenApiError | TokenNetworkError, willRetry: boolean) => void
  // Wait before reconnecting after a failure; doubles up to 30 s. Default 1000.
  retryDelayMs?: number
}

export interface ProfileWatch {
  close(): void
  // Settles when the watch has stopped (close(), or an error it does not retry).
  readonly closed: Promise<void>
}

type Method = 'get' | 'post' | 'patch'
// The JSON body of an operation's success answer, from the generated schema: a path or method the gateway
// does not have does not compile.
type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never
type Success<Op> = Op extends { responses: infer R } ? JsonOf<R[keyof R & (200 | 201)]> : never
// An optional body (POST /v1/billing-portal-sessions) is typed like a required one.
type JsonBody<Op> = Op extends { requestBody?: infer B } ? JsonOf<NonNullable<B>> : never
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

  function watchProfile(onProfile: (profile: UserProfileData) => void, watch: WatchProfileOptions = {}): ProfileWatch {
    const stop = new AbortController()
    const firstDelay = watch.retryDelayMs ?? 1000
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms)
        stop.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
      })

    // One connection: resolves true to reconnect at once (token expired), false to reconnect after a delay.
    async function connect(): Promise<boolean> {
      const response = await doFetch(`${baseUrl}/v1/profile/events`, {
        headers: { Accept: 'text/event-stream', Authorization: `Bearer ${await options.getIdToken()}` },
        cache: 'no-store',
        signal: stop.signal,
      })
      if (!response.ok) throw await errorFromResponse(response)
      if (response.body === null) return false
      let expired = false
      await readServerSentEvents(response.body, ({ event, data }) => {
        if (event === 'profile') onProfile(JSON.parse(data) as UserProfileData)
        else if (event === 'expired') expired = true
      })
      return expired
    }

    async function run(): Promise<void> {
      let delay = firstDelay
      while (!stop.signal.aborted) {
        try {
          if (await connect()) {
            delay = firstDelay
            continue
          }
        } catch (cause) {
          if (stop.signal.aborted) return
          const error =
            cause instanceof TokenApiError || cause instanceof TokenNetworkError
              ? cause
              : new TokenNetworkError(`GET /v1/profile/events failed: ${String(cause)}`, { cause })
          const retry = !(error instanceof TokenApiError) || error.kind === 'unavailable' || error.kind === 'rate_limited'
          watch.onError?.(error, retry)
          if (!retry) return
          if (error instanceof TokenApiError && error.retryAfter !== undefined) {
            delay = Math.max(delay, error.retryAfter * 1000)
          }
        }
        await sleep(delay)
        delay = Math.min(delay * 2, 30_000)
      }
    }

    const closed = run()
    return { close: () => stop.abort(), closed }
  }

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
    createBillingPortalSession: (return_url) =>
      request('post', '/v1/billing-portal-sessions', { body: return_url === undefined ? {} : { return_url } }),
    watchProfile,
  }
}
