// Progress on the terminal: one line per step, rewritten in place on a TTY while it runs
// (spinner, elapsed time, the latest detail), a plain line per change elsewhere (CI logs).
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Step {
  update(detail: string): void;
  done(detail?: string): void;
  fail(detail?: string): void;
}

export class Progress {
  private readonly tty: boolean;
  private readonly t0 = performance.now();
  readonly timings: { step: string; seconds: number; ok: boolean }[] = [];
  private readonly open = new Set<Step>();

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {
    this.tty = !!out.isTTY && process.env.TERM !== 'dumb';
  }

  /** Seconds since the start of the command. */
  elapsed(): number {
    return (performance.now() - this.t0) / 1000;
  }

  line(text = ''): void {
    this.out.write(`${text}\n`);
  }

  step(title: string): Step {
    const start = performance.now();
    let detail = '';
    let frame = 0;
    let lastPlain = '';
    let lastPlainAt = 0;
    let finished = false;
    const secs = () => ((performance.now() - start) / 1000).toFixed(1);
    const draw = () => {
      if (this.tty) {
        const text = `${FRAMES[frame++ % FRAMES.length]} ${title} ${detail ? `— ${detail} ` : ''}(${secs()}s)`;
        const width = this.out.columns ? this.out.columns - 1 : 200;
        this.out.write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
      } else if (detail && detail !== lastPlain && performance.now() - lastPlainAt > 3000) {
        // Logs get a line per change, at most one every 3 s.
        lastPlain = detail;
        lastPlainAt = performance.now();
        this.out.write(`  … ${title}: ${detail} (${secs()}s)\n`);
      }
    };
    const timer = this.tty ? setInterval(draw, 100) : undefined;
    timer?.unref();
    if (!this.tty) this.out.write(`  … ${title}\n`);
    else draw();
    const finish = (ok: boolean, d?: string) => {
      if (finished) return;
      finished = true;
      if (timer) clearInterval(timer);
      const seconds = (performance.now() - start) / 1000;
      this.timings.push({ step: title, seconds, ok });
      const mark = ok ? '✓' : '✗';
      this.out.write(`${this.tty ? '\r\x1b[2K' : ''}${mark} ${title}${d ? ` — ${d}` : ''} (${seconds.toFixed(1)}s)\n`);
    };
    const step: Step = {
      update: (d) => {
        detail = d;
        if (!this.tty) draw();
      },
      done: (d) => {
        this.open.delete(step);
        finish(true, d);
      },
      fail: (d) => {
        this.open.delete(step);
        finish(false, d);
      },
    };
    this.open.add(step);
    return step;
  }

  /** Ends every running step as failed (an interrupt), so no spinner draws over what follows. */
  failOpen(detail: string): void {
    for (const s of [...this.open]) s.fail(detail);
  }

  /** Runs fn as a step: done with its result's text, failed with its error. */
  async run<T>(title: string, fn: (step: Step) => Promise<T>, summary?: (r: T) => string): Promise<T> {
    const s = this.step(title);
    try {
      const r = await fn(s);
      s.done(summary?.(r));
      return r;
    } catch (e) {
      s.fail((e as Error).message.split('\n')[0]);
      throw e;
    }
  }
}
