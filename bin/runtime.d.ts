/** See bin/runtime.js. */
export declare const RUNTIME_MARKER: 'SENSHAGEN_RUNTIME_SETTINGS'
export declare function runtimeSettings(env: Record<string, string | undefined>): { env: Record<string, string>; execArgv: string[] }
