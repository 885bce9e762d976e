/**
 * What this process writes to stdout, as lines. The default logger writes
 * its lines once per event-loop turn (`writeStdoutLine`), so `lines()` waits
 * for the current turn to end before reading.
 */
export interface StdoutCapture {
  /** Every line written since the capture started (or was cleared), once pending lines are out. */
  lines(): Promise<string[]>;
  clear(): void;
  restore(): void;
}

export function captureStdout(): StdoutCapture {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  return {
    lines: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '');
    },
    clear: () => {
      chunks.length = 0;
    },
    restore: () => spy.mockRestore(),
  };
}
