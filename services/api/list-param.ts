import { z } from 'zod'

/**
 * A comma-separated list parameter (`device=a,b`, `quantity=pm2_5,pm10`): each item checked by `item`, duplicates
 * removed, order kept, at most `max` items. An item failing `item` is reported with its position and text
 * (`item 2 'pm25': unknown quantity …`), so a 400 names the parameter and the rule. Shared by every route that
 * takes several devices or quantities (GET /api/v1/devices and /api/v1/readings). `description` replaces the
 * default one. In /openapi.json it is an array of `item` with `style: form, explode: false` (services/api/openapi.ts),
 * OpenAPI 3.1's way of saying comma-separated values.
 */
export const COMMA_LIST_META = 'x-comma-separated'

export function listParam<T extends string>(item: z.ZodType<T>, max: number, what: string, description?: string) {
  const { $schema: _dialect, ...items } = z.toJSONSchema(item, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  return z
    .string()
    .transform((text, ctx): T[] => {
      const parts = text.split(',').map((p) => p.trim())
      if (parts.some((p) => p === '')) {
        ctx.addIssue({ code: 'custom', message: `must be ${what} separated by commas, without empty items` })
        return z.NEVER
      }
      const out: T[] = []
      for (const [i, part] of parts.entries()) {
        const parsed = item.safeParse(part)
        if (!parsed.success) {
          ctx.addIssue({ code: 'custom', message: `item ${i + 1} '${part.slice(0, 100)}': ${parsed.error.issues[0]?.message ?? 'invalid'}` })
          return z.NEVER
        }
        if (!out.includes(parsed.data)) out.push(parsed.data)
      }
      if (out.length > max) {
        ctx.addIssue({ code: 'custom', message: `at most ${max} ${what}` })
        return z.NEVER
      }
      return out
    })
    .meta({ description: description ?? `one or more ${what}, comma-separated (at most ${max})`, [COMMA_LIST_META]: { items, maxItems: max } })
}
