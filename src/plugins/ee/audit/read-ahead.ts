/**
 * Keyset pages of at most `pageSize` rows, each page's query sent before the page before it is
 * handed on, so the database reads while the caller works. `read(after)` reads the page after the
 * row `after` (the first page for `undefined`). A page read ahead that nobody waits for any more
 * (the caller stopped) must not fail unheard. Never yields an empty page; ends after a short one.
 */
export async function* pagesReadAhead<R>(read: (after: R | undefined) => Promise<R[]>, pageSize: number, signal?: AbortSignal): AsyncGenerator<R[]> {
  const ahead = (after: R | undefined): Promise<R[]> => {
    const page = read(after);
    page.catch(() => undefined);
    return page;
  };
  let next = ahead(undefined);
  for (;;) {
    if (signal?.aborted) return;
    const rows = await next;
    if (rows.length === pageSize) next = ahead(rows[rows.length - 1]);
    if (rows.length > 0) yield rows;
    if (rows.length < pageSize) return;
  }
}
