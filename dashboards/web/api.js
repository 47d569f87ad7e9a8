/* global window, sessionStorage, fetch, history, URLSearchParams */
// The token and the API: the token arrives once as ?token= and is then kept for the tab only, out of the address bar.

const TOKEN_KEY = 'cleanstream.token';
let token = null;

export class ApiError extends Error {
  /** `status` 0: the server could not be reached. `code`: the API's error code, when it sent one. */
  constructor(status, message, code = null) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function takeToken() {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  token = sessionStorage.getItem(TOKEN_KEY);
  return token;
}

export function currentToken() {
  return token;
}

export async function api(path, init = {}) {
  const headers = { authorization: `Bearer ${token}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  } catch (err) {
    throw new ApiError(0, err.message);
  }
  if (!res.ok) {
    let message = res.statusText;
    let code = null;
    try {
      const body = await res.json();
      message = body.message || message;
      code = typeof body.code === 'string' ? body.code : null;
    } catch {
      // not JSON: keep the status text
    }
    throw new ApiError(res.status, message, code);
  }
  return { status: res.status, body: await res.json() };
}

/** EventSource cannot send headers: the token goes in the query (the server keeps it out of its logs). */
export function liveUrl(params) {
  const query = new URLSearchParams({ ...params, token });
  return `/api/live?${query}`;
}
