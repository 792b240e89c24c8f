/** One call waiting for its deadline. */
interface Waiter {
  readonly at: number;
  fire: (() => void) | undefined;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * Deadlines of running calls, one list per duration: calls with the same duration expire in the
 * order they started, so one timer per duration (armed for the oldest) serves them all. Starting
 * and ending a call is a list append and an unlink, not a timer of its own. The timer runs only
 * while some call of that duration is waiting.
 */
class DeadlineList {
  private head: Waiter | undefined;
  private tail: Waiter | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  add(fire: () => void): Waiter {
    const waiter: Waiter = { at: performance.now() + this.ms, fire, prev: this.tail, next: undefined };
    if (this.tail) this.tail.next = waiter;
    else this.head = waiter;
    this.tail = waiter;
    this.timer ??= setTimeout(this.expire, this.ms);
    return waiter;
  }

  cancel(waiter: Waiter): void {
    if (!waiter.fire) return;
    waiter.fire = undefined;
    this.unlink(waiter);
    if (!this.head && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private unlink(waiter: Waiter): void {
    if (waiter.prev) waiter.prev.next = waiter.next;
    else this.head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    else this.tail = waiter.prev;
    waiter.prev = waiter.next = undefined;
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    // Timers may fire a little early: what is due to the millisecond fires now.
    for (let waiter = this.head; waiter && waiter.at <= now + 1; waiter = this.head) {
      const fire = waiter.fire!;
      waiter.fire = undefined;
      this.unlink(waiter);
      fire();
    }
    if (this.head && !this.timer) this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(this.head.at - now)));
  };
}

const lists = new Map<number, DeadlineList>();

/** Call `fire` after `ms` unless the returned cancel is called first. */
export function deadline(ms: number, fire: () => void): () => void {
  let list = lists.get(ms);
  if (!list) lists.set(ms, (list = new DeadlineList(ms)));
  const waiter = list.add(fire);
  const owner = list;
  return () => owner.cancel(waiter);
}

const EXPIRED = Symbol('deadline');
export type Expired = typeof EXPIRED;
export const isExpired = (value: unknown): value is Expired => value === EXPIRED;

/** `work`'s value, or {@link isExpired} once `ms` have passed; a rejection of `work` rejects. */
export function withinDeadline<T>(work: PromiseLike<T>, ms: number): Promise<T | Expired> {
  return new Promise<T | Expired>((resolve, reject) => {
    const cancel = deadline(ms, () => resolve(EXPIRED));
    work.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error: unknown) => {
        cancel();
        reject(error);
      },
    );
  });
}
