import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses that no URL a tenant's admin configures (an identity provider, an approval webhook)
 * may reach: none of them is ever a legitimate identity provider or webhook receiver, and some are
 * what a forged URL would aim at. Cloud metadata services answer on link-local 169.254.169.254
 * (and fd00:ec2::254, 100.100.100.200) with the host's credentials; 0.0.0.0 and `::` connect to the
 * host itself. IPv4-mapped IPv6 forms (`::ffff:169.254.169.254`) are checked as IPv4.
 */
const NEVER = new BlockList();
NEVER.addSubnet('0.0.0.0', 8, 'ipv4');
NEVER.addSubnet('169.254.0.0', 16, 'ipv4');
NEVER.addAddress('100.100.100.200', 'ipv4');
NEVER.addSubnet('224.0.0.0', 4, 'ipv4');
NEVER.addSubnet('240.0.0.0', 4, 'ipv4');
NEVER.addAddress('::', 'ipv6');
NEVER.addSubnet('fe80::', 10, 'ipv6');
NEVER.addAddress('fd00:ec2::254', 'ipv6');
NEVER.addSubnet('ff00::', 8, 'ipv6');

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether `url` is plain http to a loopback host: the only http an IdP URL may use. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK.has(url.hostname);
}

/** A request to an address that tenant-configured URLs may not reach; it was never sent. */
export class OutboundRefusedError extends Error {
  override readonly name = 'OutboundRefusedError';
}

/** The IPv4 address an IPv4-mapped IPv6 address carries, as the URL parser writes it (`::ffff:a9fe:a9fe`). */
function mappedIpv4(address: string): string | undefined {
  const match = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!match) return undefined;
  const [high, low] = [parseInt(match[1]!, 16), parseInt(match[2]!, 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** Why `address` (what `host` resolved to, or the host itself) is never reached, or undefined. */
function refusal(host: string, address: string): string | undefined {
  const family = isIP(address);
  if (family === 0 || !NEVER.check(address, family === 4 ? 'ipv4' : 'ipv6')) return undefined;
  const mapped = mappedIpv4(address);
  const named = mapped ? `${address} (${mapped})` : address;
  const shown = host === address ? named : `${host} (${named})`;
  return `${shown}: a link-local, unspecified, multicast or reserved address (where cloud metadata services answer), which is never reached`;
}

/**
 * Why a URL names an address that is never reached (an IP address written in the URL, in any of the
 * forms the URL parser normalises), or undefined. Names are checked when they are resolved.
 */
export function neverReached(url: URL): string | undefined {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return refusal(host, host);
}

/**
 * Name resolution for outbound requests: every address the name resolves to is checked, and the
 * connection uses only those addresses, so a name cannot resolve one way when checked and another
 * when connected (DNS rebinding).
 */
function guardedLookup(hostname: string, options: LookupOptions, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    for (const { address } of addresses) {
      const refused = refusal(hostname, address);
      if (refused) return callback(new OutboundRefusedError(refused), []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}

export interface OutboundInit {
  readonly method?: string;
  readonly headers?: ConstructorParameters<typeof Headers>[0];
  readonly body?: string;
  readonly signal?: AbortSignal;
}

/** The most an answer may hold: a discovery document, a key set, a webhook's reply. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * `fetch` for URLs that tenants' admins configure: refuses addresses that are never a legitimate
 * target (see {@link NEVER}) before connecting, follows no redirect (a 3xx is returned as it is),
 * and reads at most 1 MiB of the answer. Aborting with `signal` rejects with the signal's reason,
 * as `fetch` does (a `TimeoutError` for `AbortSignal.timeout`).
 */
export function outboundFetch(input: string | URL, init: OutboundInit = {}): Promise<Response> {
  const url = new URL(input);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new TypeError(`${url.protocol} URLs are not fetched`));
  const literal = neverReached(url);
  if (literal) return Promise.reject(new OutboundRefusedError(literal));
  const { signal } = init;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const fail = (error: unknown): void => reject(signal?.aborted ? signal.reason : error);
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: init.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init.headers)),
      lookup: guardedLookup as typeof dnsLookup,
      ...(signal ? { signal } : {}),
    });
    request.once('error', fail);
    request.once('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          fail(new Error(`the answer of ${url.origin} is larger than ${MAX_RESPONSE_BYTES} bytes`));
          request.destroy();
          return;
        }
        chunks.push(chunk);
      });
      response.once('error', fail);
      response.once('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const status = response.statusCode ?? 502;
        const empty = status === 204 || status === 205 || status === 304;
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status, statusText: response.statusMessage ?? '', headers }));
      });
    });
    request.end(init.body);
  });
}
