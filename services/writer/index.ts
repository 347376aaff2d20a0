/**
 * What other services may use of the writer: direct-mode ingest embeds a writer in its own process.
 * Everything else in this folder is the writer's own.
 */
export { openWriter, runWriter, type RunningWriter } from './main.ts'
export { ReadingWriter, type WriterOptions, type WriterStats } from './reading-writer.ts'
