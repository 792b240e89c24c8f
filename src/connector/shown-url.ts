/**
 * URLs as the connector shows them (stderr, errors for the client, printed configurations): a
 * query or fragment may carry a key, a token or a signature (`?api_key=…`, `?sig=…`), so every
 * value in them is masked, whatever its name; the names stay, to tell the parameters apart.
 */

const MASK = '***';
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
/** A URL inside a line of text: up to white space or a quote. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
/** Punctuation that ends a sentence after a URL, not part of it. */
const TRAILING = /[).,;:!]+$/;

/** Every value of a query (`a=1&b` → `a=***&***`), each replaced by `mask(name)`. */
function maskQueryValues(query: string, mask: (name: string | undefined) => string): string {
  return query
    .split('&')
    .map((part) => {
      if (part === '') return part;
      const equals = part.indexOf('=');
      return equals === -1 ? mask(undefined) : `${part.slice(0, equals + 1)}${mask(decodeName(part.slice(0, equals)))}`;
    })
    .join('&');
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

/** A URL written as text, with its query values and fragment masked (user:password too, when it is well formed). */
export function maskUrlText(raw: string, mask: (name: string | undefined) => string = () => MASK): string {
  let text = raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*@/i, '$1***@');
  const hash = text.indexOf('#');
  if (hash !== -1) text = `${text.slice(0, hash)}${hash === text.length - 1 ? '#' : `#${MASK}`}`;
  const question = text.indexOf('?');
  if (question === -1) return text;
  const end = text.indexOf('#', question);
  const query = text.slice(question + 1, end === -1 ? undefined : end);
  return `${text.slice(0, question + 1)}${maskQueryValues(query, mask)}${end === -1 ? '' : text.slice(end)}`;
}

/** A URL as the connector shows it. */
export function shownUrl(url: URL): string {
  return maskUrlText(url.href);
}

/** Whether showing this URL hides something (its query or fragment holds a value). */
export function hidesValues(url: URL): boolean {
  return maskUrlText(url.href) !== url.href;
}

/** A line of text with every URL in it shown masked. */
export function maskUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (found) => {
    if (!SCHEME.test(found)) return found;
    const trailing = TRAILING.exec(found)?.[0] ?? '';
    return `${maskUrlText(found.slice(0, found.length - trailing.length))}${trailing}`;
  });
}
