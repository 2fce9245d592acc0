// The gateway answers every error as {"error": {code, message, reason, field?}} (gateway/errors.py). Here each
// becomes a TokenApiError: check `err.kind` (or `instanceof AuthError`, ...) to decide what the page does.

export type TokenErrorKind =
  | 'auth' // 401: the ID token is missing, expired or invalid: sign in again
  | 'forbidden' // 403: e.g. another user's checkout session
  | 'validation' // 400/422: the request is wrong; `field` names the culprit when there is one
  | 'not_found' // 404
  | 'insufficient_tokens' // 409 with reason INSUFFICIENT_TOKENS
  | 'conflict' // other 409s (e.g. IDEMPOTENCY_KEY_REUSED)
  | 'rate_limited' // 429: wait `retryAfter` seconds
  | 'unavailable' // 502/503/504: a service is down or failed; safe to retry after `retryAfter`
  | 'server' // anything else (500)

export interface ErrorFields {
  status: number
  code: string
  message: string
  reason: string
  field?: string | undefined
  requestId?: string | undefined
  retryAfter?: number | undefined
}

export class TokenApiError extends Error {
  readonly kind: TokenErrorKind
  readonly status: number
  // Canonical gRPC status name: INVALID_ARGUMENT, UNAUTHENTICATED, UNAVAILABLE, ...
  readonly code: string
  // Machine-readable cause: READ_ONLY_FIELD, TOKEN_EXPIRED, INSUFFICIENT_TOKENS, ...
  readonly reason: string
  readonly field: string | undefined
  // The gateway's X-Request-ID: quote it when reporting a problem (it is in the gateway's logs).
  readonly requestId: string | undefined
  // Seconds, from Retry-After (429 and 503 carry it).
  readonly retryAfter: number | undefined

  constructor(kind: TokenErrorKind, fields: ErrorFields) {
    super(fields.message)
    this.name = new.target.name
    this.kind = kind
    this.status = fields.status
    this.code = fields.code
    this.reason = fields.reason
    this.field = fields.field
    this.requestId = fields.requestId
    this.retryAfter = fields.retryAfter
  }
}

export class AuthError extends TokenApiError {
  declare readonly kind: 'auth'
}
export class ForbiddenError extends TokenApiError {
  declare readonly kind: 'forbidden'
}
export class ValidationError extends TokenApiError {
  declare readonly kind: 'validation'
}
export class NotFoundError extends TokenApiError {
  declare readonly kind: 'not_found'
}
export class InsufficientTokensError extends TokenApiError {
  declare readonly kind: 'insufficient_tokens'
}
export class ConflictError extends TokenApiError {
  declare readonly kind: 'conflict'
}
export class RateLimitedError extends TokenApiError {
  declare readonly kind: 'rate_limited'
}
export class UnavailableError extends TokenApiError {
  declare readonly kind: 'unavailable'
}

// The request never got an HTTP answer (offline, DNS, connection refused, CORS refusal): not a TokenApiError,
// since the gateway said nothing. For a POST the outcome is unknown: retry with the same idempotencyKey.
export class TokenNetworkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TokenNetworkError'
  }
}

export function isTokenApiError(value: unknown): value is TokenApiError {
  return value instanceof TokenApiError
}

function classify(status: number, reason: string): [TokenErrorKind, typeof TokenApiError] {
  if (status === 401) return ['auth', AuthError]
  if (status === 403) return ['forbidden', ForbiddenError]
  if (status === 400 || status === 422) return ['validation', ValidationError]
  if (status === 404) return ['not_found', NotFoundError]
  if (status === 409 && reason === 'INSUFFICIENT_TOKENS') return ['insufficient_tokens', InsufficientTokensError]
  if (status === 409) return ['conflict', ConflictError]
  if (status === 429) return ['rate_limited', RateLimitedError]
  if (status === 502 || status === 503 || status === 504) return ['unavailable', UnavailableError]
  return ['server', TokenApiError]
}

// Retry-After is either seconds or an HTTP date.
function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds)
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

type Detail = { [K in 'code' | 'message' | 'reason' | 'field']?: string | undefined }

function detailOf(body: unknown): Detail {
  const error = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined
  if (typeof error !== 'object' || error === null) return {}
  const { code, message, reason, field } = error as Record<string, unknown>
  return {
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message : undefined,
    reason: typeof reason === 'string' ? reason : undefined,
    field: typeof field === 'string' ? field : undefined,
  }
}

// Builds the typed error for a non-2xx response. A body that is not the gateway's (a proxy's HTML page)
// still gives a typed error, by status.
export async function errorFromResponse(response: Response): Promise<TokenApiError> {
  const text = await response.text().catch(() => '')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  const detail = detailOf(body)
  const reason = detail.reason ?? `HTTP_${response.status}`
  const [kind, ErrorClass] = classify(response.status, reason)
  return new ErrorClass(kind, {
    status: response.status,
    code: detail.code ?? 'UNKNOWN',
    message: detail.message ?? `HTTP ${response.status} ${response.statusText}`.trim(),
    reason,
    field: detail.field,
    requestId: response.headers.get('X-Request-ID') ?? undefined,
    retryAfter: retryAfterSeconds(response.headers.get('Retry-After')),
  })
}
