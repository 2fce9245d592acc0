// GENERATED from clients/typescript/src by `node clients/typescript/scripts/build-page-module.mjs`: do not edit.
// TypeScript 5.9.3; one ES module for the local try-it page (gateway/local_dev).

// --- src/errors.ts
// The gateway answers every error as {"error": {code, message, reason, field?}} (gateway/errors.py). Here each
// becomes a TokenApiError: check `err.kind` (or `instanceof AuthError`, ...) to decide what the page does.
export class TokenApiError extends Error {
    kind;
    status;
    // Canonical gRPC status name: INVALID_ARGUMENT, UNAUTHENTICATED, UNAVAILABLE, ...
    code;
    // Machine-readable cause: READ_ONLY_FIELD, TOKEN_EXPIRED, INSUFFICIENT_TOKENS, ...
    reason;
    field;
    // The gateway's X-Request-ID: quote it when reporting a problem (it is in the gateway's logs).
    requestId;
    // Seconds, from Retry-After (429 and 503 carry it).
    retryAfter;
    constructor(kind, fields) {
        super(fields.message);
        this.name = new.target.name;
        this.kind = kind;
        this.status = fields.status;
        this.code = fields.code;
        this.reason = fields.reason;
        this.field = fields.field;
        this.requestId = fields.requestId;
        this.retryAfter = fields.retryAfter;
    }
}
export class AuthError extends TokenApiError {
}
export class ForbiddenError extends TokenApiError {
}
export class ValidationError extends TokenApiError {
}
export class NotFoundError extends TokenApiError {
}
export class InsufficientTokensError extends TokenApiError {
}
export class ConflictError extends TokenApiError {
}
export class RateLimitedError extends TokenApiError {
}
export class UnavailableError extends TokenApiError {
}
// The request never got an HTTP answer (offline, DNS, connection refused, CORS refusal): not a TokenApiError,
// since the gateway said nothing. For a POST the outcome is unknown: retry with the same idempotencyKey.
export class TokenNetworkError extends Error {
    constructor(message, options) {
        super(message, options);
        this.name = 'TokenNetworkError';
    }
}
export function isTokenApiError(value) {
    return value instanceof TokenApiError;
}
function classify(status, reason) {
    if (status === 401)
        return ['auth', AuthError];
    if (status === 403)
        return ['forbidden', ForbiddenError];
    if (status === 400 || status === 422)
        return ['validation', ValidationError];
    if (status === 404)
        return ['not_found', NotFoundError];
    if (status === 409 && reason === 'INSUFFICIENT_TOKENS')
        return ['insufficient_tokens', InsufficientTokensError];
    if (status === 409)
        return ['conflict', ConflictError];
    if (status === 429)
        return ['rate_limited', RateLimitedError];
    if (status === 502 || status === 503 || status === 504)
        return ['unavailable', UnavailableError];
    return ['server', TokenApiError];
}
// Retry-After is either seconds or an HTTP date.
function retryAfterSeconds(header) {
    if (header === null || header.trim() === '')
        return undefined;
    const seconds = Number(header);
    if (Number.isFinite(seconds))
        return Math.max(0, seconds);
    const date = Date.parse(header);
    return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
function detailOf(body) {
    const error = typeof body === 'object' && body !== null ? body.error : undefined;
    if (typeof error !== 'object' || error === null)
        return {};
    const { code, message, reason, field } = error;
    return {
        code: typeof code === 'string' ? code : undefined,
        message: typeof message === 'string' ? message : undefined,
        reason: typeof reason === 'string' ? reason : undefined,
        field: typeof field === 'string' ? field : undefined,
    };
}
// Builds the typed error for a non-2xx response. A body that is not the gateway's (a proxy's HTML page)
// still gives a typed error, by status.
export async function errorFromResponse(response) {
    const text = await response.text().catch(() => '');
    let body;
    try {
        body = JSON.parse(text);
    }
    catch {
        body = undefined;
    }
    const detail = detailOf(body);
    const reason = detail.reason ?? `HTTP_${response.status}`;
    const [kind, ErrorClass] = classify(response.status, reason);
    return new ErrorClass(kind, {
        status: response.status,
        code: detail.code ?? 'UNKNOWN',
        message: detail.message ?? `HTTP ${response.status} ${response.statusText}`.trim(),
        reason,
        field: detail.field,
        requestId: response.headers.get('X-Request-ID') ?? undefined,
        retryAfter: retryAfterSeconds(response.headers.get('Retry-After')),
    });
}

// --- src/events.ts
// A small reader of server-sent events (text/event-stream) from a fetch() body. The gateway's
// GET /v1/profile/events needs the ID token in the Authorization header, which EventSource cannot send, so the
// client reads the stream with fetch and this.
// Calls onEvent for each event until the stream ends (or `signal` aborts). Comments (": keep-alive") are skipped;
// multi-line data is joined with "\n", as EventSource does.
export async function readServerSentEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let name = '';
    let data = [];
    const line = (text) => {
        if (text === '') {
            if (data.length > 0)
                onEvent({ event: name || 'message', data: data.join('\n') });
            name = '';
            data = [];
            return;
        }
        if (text.startsWith(':'))
            return;
        const colon = text.indexOf(':');
        const field = colon === -1 ? text : text.slice(0, colon);
        let value = colon === -1 ? '' : text.slice(colon + 1);
        if (value.startsWith(' '))
            value = value.slice(1);
        if (field === 'event')
            name = value;
        else if (field === 'data')
            data.push(value);
    };
    try {
        for (;;) {
            const { done, value } = await reader.read();
            buffer += decoder.decode(value, { stream: !done });
            let end;
            while ((end = buffer.search(/\r\n|\r|\n/)) !== -1) {
                if (!done && end === buffer.length - 1 && buffer[end] === '\r')
                    break; // maybe half of a \r\n
                const newline = buffer.startsWith('\r\n', end) ? 2 : 1;
                line(buffer.slice(0, end));
                buffer = buffer.slice(end + newline);
            }
            if (done)
                return;
        }
    }
    finally {
        reader.releaseLock();
    }
}

// --- src/client.ts
// A typed client for the token gateway. It replaces the original app's userprofileAPI.ts and stripeAPI.ts
// (same names and signatures) and needs nothing at run time but `fetch`.
//
//   const tokens = createTokenClient({ baseUrl, getIdToken: () => auth.currentUser!.getIdToken() })
//   const profile = await tokens.getUserProfile()


export function createTokenClient(options) {
    const baseUrl = options.baseUrl.replace(/\/+$/, '');
    const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
    async function request(method, path, init = {}) {
        let url = baseUrl + path.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(init.params?.[name] ?? ''));
        const query = new URLSearchParams();
        for (const [key, value] of Object.entries(init.query ?? {})) {
            if (value !== undefined && value !== null)
                query.set(key, String(value));
        }
        if (query.toString())
            url += `?${query}`;
        const headers = {
            Accept: 'application/json',
            Authorization: `Bearer ${await options.getIdToken()}`,
            ...init.headers,
        };
        if (init.body !== undefined)
            headers['Content-Type'] = 'application/json';
        let response;
        try {
            response = await doFetch(url, {
                method: method.toUpperCase(),
                headers,
                body: init.body === undefined ? null : JSON.stringify(init.body),
                cache: 'no-store',
            });
        }
        catch (cause) {
            if (cause instanceof Error && cause.name === 'AbortError')
                throw cause;
            throw new TokenNetworkError(`${method.toUpperCase()} ${url} failed: ${String(cause)}`, { cause });
        }
        if (!response.ok)
            throw await errorFromResponse(response);
        return (await response.json());
    }
    const createUserProfile = () => request('post', '/v1/profile');
    function watchProfile(onProfile, watch = {}) {
        const stop = new AbortController();
        const firstDelay = watch.retryDelayMs ?? 1000;
        const sleep = (ms) => new Promise((resolve) => {
            const timer = setTimeout(resolve, ms);
            stop.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
        // One connection: resolves true to reconnect at once (token expired), false to reconnect after a delay.
        async function connect() {
            const response = await doFetch(`${baseUrl}/v1/profile/events`, {
                headers: { Accept: 'text/event-stream', Authorization: `Bearer ${await options.getIdToken()}` },
                cache: 'no-store',
                signal: stop.signal,
            });
            if (!response.ok)
                throw await errorFromResponse(response);
            if (response.body === null)
                return false;
            let expired = false;
            await readServerSentEvents(response.body, ({ event, data }) => {
                if (event === 'profile')
                    onProfile(JSON.parse(data));
                else if (event === 'expired')
                    expired = true;
            });
            return expired;
        }
        async function run() {
            let delay = firstDelay;
            while (!stop.signal.aborted) {
                try {
                    if (await connect()) {
                        delay = firstDelay;
                        continue;
                    }
                }
                catch (cause) {
                    if (stop.signal.aborted)
                        return;
                    const error = cause instanceof TokenApiError || cause instanceof TokenNetworkError
                        ? cause
                        : new TokenNetworkError(`GET /v1/profile/events failed: ${String(cause)}`, { cause });
                    const retry = !(error instanceof TokenApiError) || error.kind === 'unavailable' || error.kind === 'rate_limited';
                    watch.onError?.(error, retry);
                    if (!retry)
                        return;
                    if (error instanceof TokenApiError && error.retryAfter !== undefined) {
                        delay = Math.max(delay, error.retryAfter * 1000);
                    }
                }
                await sleep(delay);
                delay = Math.min(delay * 2, 30_000);
            }
        }
        const closed = run();
        return { close: () => stop.abort(), closed };
    }
    return {
        async getUserProfile() {
            try {
                return await request('get', '/v1/profile');
            }
            catch (err) {
                if (err instanceof NotFoundError && err.reason === 'PROFILE_NOT_FOUND')
                    return createUserProfile();
                throw err;
            }
        },
        createUserProfile,
        updateUserProfile: (update) => request('patch', '/v1/profile', { body: update }),
        createCheckoutSession: (price_id, mode, { idempotencyKey, ...rest } = {}) => request('post', '/v1/checkout-sessions', {
            body: { ...rest, price_id, mode },
            headers: idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey },
        }),
        getCheckoutSession: (session_id) => request('get', '/v1/checkout-sessions/{session_id}', { params: { session_id } }),
        listTokenHistory: (query = {}) => request('get', '/v1/profile/token-history', { query }),
        listPrices: async () => (await request('get', '/v1/prices')).prices,
        createBillingPortalSession: (return_url) => request('post', '/v1/billing-portal-sessions', { body: return_url === undefined ? {} : { return_url } }),
        watchProfile,
    };
}

// --- src/schema.ts
/**
 * This file was auto-generated by openapi-typescript.
 * Do not make direct changes to the file.
 */
