/**
 * What the rest of the project may start of the writer service (the CLI, the benchmark). Its engine, the
 * ReadingWriter that direct-mode ingest embeds too, lives in core/store/reading-writer.ts.
 */
export { runWriter, type RunningWriter } from './main.ts'
