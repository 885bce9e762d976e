// cdktf records the full stack trace of every token it creates (each resource attribute, reference and map), to
// quote in the error a token that cannot be resolved throws. Under jest every frame of every such trace is mapped
// through source maps, a large share of the CPU the construct and stack tests spend. No test reads
// these traces: they assert on synthesized output and on our own errors, so tokens here record none.
jest.mock('cdktf/lib/tokens/private/stack-trace', () => ({ captureStackTrace: (): string[] => [] }));
