import { GatehouseError } from '../errors.js';

/** `close()` (or the unwinding of a failed start) could not finish some steps; every other step ran. */
export class ShutdownError extends GatehouseError {
  constructor(readonly failures: readonly { readonly step: string; readonly error: unknown }[]) {
    super('shutdown_failed', `The engine did not stop cleanly: ${failures.map(({ step, error }) => `${step} (${describe(error)})`).join('; ')}.`);
  }
}

function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'unprintable error';
  }
}

interface Step {
  readonly name: string;
  readonly run: () => Promise<void> | void;
}

/**
 * What to undo, in the order things were started. `run()` undoes them in reverse, runs every step
 * even when one fails, and rejects with one `ShutdownError` naming all that failed. Steps that
 * succeeded are done for good; calling `run()` again retries only the failed ones (calls made while
 * a run is going share it).
 */
export class ShutdownSteps {
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;

  /** Register the undoing of something that has just been started. */
  add(name: string, run: () => Promise<void> | void): void {
    this.steps.push({ name, run });
  }

  run(): Promise<void> {
    this.running ??= this.runOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async runOnce(): Promise<void> {
    const failed: Step[] = [];
    const failures: { step: string; error: unknown }[] = [];
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (error) {
        failed.unshift(step);
        failures.push({ step: step.name, error });
      }
    }
    this.steps.push(...failed);
    if (failures.length) throw new ShutdownError(failures);
  }
}
