/**
 * A commander action that imports its implementation only when the command runs. Under tsx every imported module
 * is compiled and evaluated at start-up, so a command that imported its implementation eagerly made
 * `senshagen --help` and `senshagen devices list` load fastify, kafkajs, aedes and the Parquet writers too.
 * Registration modules (cli/commands/*.ts) therefore import only commander's types and light constants, and each
 * action is `lazyAction(() => import('./impl/<command>.ts'), 'run…')`.
 *
 * `load` resolves to the implementation module; `name` is its export that takes commander's action arguments
 * (the command's arguments, then its options object, then the Command). Errors: whatever the import or the
 * action throws (commander then reports it as an unhandled rejection, as it did for eager actions).
 */
export function lazyAction<M, K extends keyof M>(load: () => Promise<M>, name: K): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const action = (await load())[name] as (...args: unknown[]) => unknown
    await action(...args)
  }
}
