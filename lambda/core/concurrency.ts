/** Runs at most `limit` tasks at once; the rest wait their turn in order. */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
  }

  public async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * At most `limit` tasks at once per key; tasks of other keys never wait for them. The processor
 * keys deliveries by subscription, so one endpoint cannot take every delivery slot of a
 * container (docs/architecture.md "Endpoint health").
 */
export class KeyedConcurrencyLimit {
  private readonly limits = new Map<string, ConcurrencyLimit>();
  private readonly users = new Map<string, number>();

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
  }

  public async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const limit = this.limits.get(key) ?? new ConcurrencyLimit(this.limit);
    this.limits.set(key, limit);
    this.users.set(key, (this.users.get(key) ?? 0) + 1);
    try {
      return await limit.run(task);
    } finally {
      // Forget keys nobody uses, so a warm container does not keep one per subscription it ever saw.
      const left = this.users.get(key)! - 1;
      if (left > 0) {
        this.users.set(key, left);
      } else {
        this.users.delete(key);
        this.limits.delete(key);
      }
    }
  }
}
