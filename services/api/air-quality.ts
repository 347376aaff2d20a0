/**
 * Plain-language classes for the residents' page. The API returns stable keys (`class: 'moderate'`,
 * `advice: 'lki_moderate'`, `index: 5`); the page words them in B1 Dutch (services/api/public/i18n.js).
 *
 * Air: the Dutch air quality index LKI (Luchtkwaliteitsindex, RIVM), the scale Luchtmeetnet.nl shows. Each
 * substance's hourly concentration (µg/m³) becomes a number 1 (little pollution) … 11 (much pollution); the
 * limits per substance are RIVM report 2014-0050 "Luchtkwaliteitsindex: aanbevelingen voor de samenstelling en
 * duiding" (https://www.rivm.nl/bibliotheek/rapporten/2014-0050.pdf), as also coded in the CRAN package
 * con2lki 0.1.0 (M. Baas). Index n covers [limits[n−1], limits[n]); at or above the last limit it is 11.
 * Five classes (luchtmeetnet.nl/dezewebsite): 1–3 goed, 4–6 matig, 7–8 onvoldoende, 9–10 slecht, 11 zeer slecht.
 * Caveat: the LKI is meant for reference stations; garden sensors are indicative, so the page says so beside
 * the number. The index of several substances together (the highest one, plus one when all are equal) is not
 * computed here: the page shows each substance's own index.
 *
 * Temperature, season-aware:
 * - Warm season (1 May – 30 September, or any day at ≥ 27 °C): the Nationaal Hitteplan (RIVM,
 *   https://www.rivm.nl/hitte/nationaal-hitteplan) starts when KNMI expects at least four days in a row with a
 *   maximum of 27 °C or more; KNMI calls a day with a maximum of 30 °C or more a tropical day ("tropische dag",
 *   KNMI klimaatbegrippen). Applied to the current hourly mean as a hint, not a heat-plan declaration:
 *   ≥ 30 °C `hot`, ≥ 27 °C `warm`, else `normal` (no heat stress) — `normal` is never given in the cold season.
 *   The season bounds (May–September) are our choice, not a published rule: the months in which Dutch heat days
 *   occur; any hour at ≥ 27 °C gets the heat advice whatever the month.
 * - Cold season (1 October – 30 April, below 27 °C): below 0 °C `frost` (KNMI "vorstdag"), below 10 °C `cold`,
 *   else `mild`; the page adds the wood-burning advice (stookAdvice).
 *
 * Wood burning (Stookwijzer, RIVM, atlasleefomgeving.nl/stookwijzer; criteria: RIVM news "Nieuwe criteria
 * Stookwijzer op basis van overlast", https://www.rivm.nl/nieuws/nieuwe-criteria-stookwijzer-op-basis-van-overlast):
 * burning wood always causes some nuisance (code yellow); at wind force 2 Bft or less (≤ 3.3 m/s, KNMI
 * Beaufort table) or when the air is already poor from particulate matter, better not to burn at all (code
 * red). We use: `red` when wind ≤ 3.3 m/s or PM2.5 LKI ≥ 7 (onvoldoende), `orange` when PM2.5 LKI ≥ 4 (matig),
 * else `yellow`. A missing input is said, not guessed (issue 11, honest data): without a wind speed only a PM2.5
 * LKI ≥ 7 can give a code (red whatever the wind), without a PM2.5 mean only wind ≤ 3.3 m/s can (red whatever
 * the air); anything else could still turn red, so the code is `null`, `reason: 'missing'`, and `missing` names
 * the inputs (`wind`, `pm2_5`). A yellow or orange code is only given when both inputs are known.
 */

export interface Classification {
  class: string
  advice: string
}

export type LkiQuantity = 'pm2_5' | 'pm10' | 'no2'

/** Lower limits (µg/m³, hourly mean) of LKI 2…11 per substance; RIVM 2014-0050 (see the file comment). */
export const LKI_LIMITS: Readonly<Record<LkiQuantity, readonly number[]>> = {
  pm2_5: [10, 15, 20, 30, 40, 50, 70, 90, 100, 140],
  pm10: [10, 20, 30, 45, 60, 75, 100, 125, 150, 200],
  no2: [10, 20, 30, 45, 60, 75, 100, 125, 150, 200],
}

/** LKI class of an index 1…11: good 1–3, moderate 4–6, insufficient 7–8, poor 9–10, very_poor 11. */
export function lkiClass(index: number): string {
  return index <= 3 ? 'good' : index <= 6 ? 'moderate' : index <= 8 ? 'insufficient' : index <= 10 ? 'poor' : 'very_poor'
}

/** The LKI (1…11) of an hourly mean `value` in µg/m³ of `quantity`; a negative value counts as 0. */
export function lkiIndex(quantity: LkiQuantity, value: number): number {
  return 1 + LKI_LIMITS[quantity].filter((limit) => value >= limit).length
}

/** Index, class and advice key (`lki_<class>`) of an hourly mean in µg/m³. */
export function classifyLki(quantity: LkiQuantity, value: number): Classification & { index: number } {
  const index = lkiIndex(quantity, value)
  const c = lkiClass(index)
  return { index, class: c, advice: `lki_${c}` }
}

export const HEAT_THRESHOLDS = { warmC: 27, hotC: 30, frostC: 0, coldC: 10 } as const

/** Months (1–12, Europe/Amsterdam) of the warm season: May to September. */
export const WARM_MONTHS: ReadonlySet<number> = new Set([5, 6, 7, 8, 9])

const monthOf = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', month: 'numeric' })

/** `warm` from 1 May to 30 September (Dutch local date of `at`, epoch ms), else `cold`. */
export function seasonAt(at: number): 'warm' | 'cold' {
  return WARM_MONTHS.has(Number(monthOf.format(at))) ? 'warm' : 'cold'
}

/**
 * Class of an hourly mean air temperature (°C) at time `at` (epoch ms); advice key `heat_<class>` in the warm
 * season or at ≥ 27 °C, `cold_<class>` otherwise. Rules and sources: the file comment.
 */
export function classifyTemperature(value: number, at: number): Classification {
  if (value >= HEAT_THRESHOLDS.hotC) return { class: 'hot', advice: 'heat_hot' }
  if (value >= HEAT_THRESHOLDS.warmC) return { class: 'warm', advice: 'heat_warm' }
  if (seasonAt(at) === 'warm') return value < HEAT_THRESHOLDS.frostC ? { class: 'frost', advice: 'cold_frost' } : { class: 'normal', advice: 'heat_normal' }
  const c = value < HEAT_THRESHOLDS.frostC ? 'frost' : value < HEAT_THRESHOLDS.coldC ? 'cold' : 'mild'
  return { class: c, advice: `cold_${c}` }
}

/** Beaufort 2 upper limit, m/s (KNMI Beaufort table: 2 Bft = 1.6–3.3 m/s). */
export const STOOK_MAX_CALM_WIND_MS = 3.3

/** An input of the wood-burning advice: the KNMI wind speed, or the neighbourhood's PM2.5 hourly mean. */
export type StookInput = 'wind' | 'pm2_5'

export interface StookAdvice {
  /** null: an input is missing and what is known does not already give red (see `missing`). */
  code: 'yellow' | 'orange' | 'red' | null
  /** Why: `wind` (≤ 3.3 m/s), `air` (PM2.5 LKI), `none` (burning always causes some nuisance), or `missing` (no code). */
  reason: 'wind' | 'air' | 'none' | 'missing'
  /** The inputs that were not known, in the order wind, pm2_5; [] when both were. */
  missing: StookInput[]
}

/**
 * Wood-burning advice from the PM2.5 hourly mean (µg/m³, null when unknown) and the wind speed (m/s, null when
 * unknown). Rule and source: the file comment; a missing input gives `code: null` unless the other gives red.
 */
export function stookAdvice(pm25: number | null, windMs: number | null): StookAdvice {
  const lki = pm25 === null ? null : lkiIndex('pm2_5', pm25)
  const missing: StookInput[] = [...(windMs === null ? (['wind'] as const) : []), ...(lki === null ? (['pm2_5'] as const) : [])]
  if (windMs !== null && windMs <= STOOK_MAX_CALM_WIND_MS) return { code: 'red', reason: 'wind', missing }
  if (lki !== null && lki >= 7) return { code: 'red', reason: 'air', missing }
  if (missing.length > 0) return { code: null, reason: 'missing', missing }
  if (lki! >= 4) return { code: 'orange', reason: 'air', missing }
  return { code: 'yellow', reason: 'none', missing }
}
