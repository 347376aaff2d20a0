// The ingest worker thread's entry: registers tsx's loader in this thread (loader hooks registered in the main
// thread do not reach a worker), then runs the TypeScript worker (thread.ts).
const { register } = await import('tsx/esm/api')
register()
await import('./thread.ts')
