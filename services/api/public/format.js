// Numbers, units and times for one language. Times are always shown in Dutch local time (Europe/Amsterdam),
// whatever the visitor's computer says: the readings are about Zwolle.

export const TIME_ZONE = 'Europe/Amsterdam'

/** Decimals shown per quantity; others get one. */
const DECIMALS = { air_temperature: 1, relative_humidity: 0, air_pressure: 0, pm1: 1, pm2_5: 1, pm4: 1, pm10: 1, no2: 0, wind_from_direction: 0 }
/** Canonical units (core/quantities.ts) used when the API does not send one. */
export const UNITS = {
  air_temperature: '°C', relative_humidity: '%', air_pressure: 'hPa', pm1: 'µg/m³', pm2_5: 'µg/m³', pm4: 'µg/m³', pm10: 'µg/m³',
  no2: 'µg/m³', precipitation: 'mm', wind_speed: 'm/s', wind_from_direction: '°', water_level: 'cm', soil_moisture: '%',
}

export function formatter(t) {
  const locale = t('locale')
  const numbers = new Map()
  const number = (value, decimals) => {
    if (!numbers.has(decimals)) numbers.set(decimals, new Intl.NumberFormat(locale, { minimumFractionDigits: decimals, maximumFractionDigits: decimals }))
    return numbers.get(decimals).format(value)
  }
  const time = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  const dateTime = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  const stamp = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  const dayMonth = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, weekday: 'short', day: 'numeric', month: 'short' })
  const shortDay = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, weekday: 'short', day: 'numeric' })
  // The same with the year, for dates outside the current year (archive data from 2016 must not read as this year).
  const dateTimeYear = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  const stampYear = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  const dayMonthYear = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' })
  const longDate = new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  const yearOf = new Intl.DateTimeFormat('en-GB', { timeZone: TIME_ZONE, year: 'numeric' })
  const thisYear = (ms) => yearOf.format(ms) === yearOf.format(Date.now())
  const hourMinute = new Intl.DateTimeFormat('en-GB', { timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  const dayKey = new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' })
  const fmt = {
    locale,
    /** "8,4 °C", "85%", "6,1 µg/m³"; "–" for a missing value. */
    value(quantity, value, unit = UNITS[quantity] ?? '') {
      if (value === null || value === undefined || !Number.isFinite(value)) return '–'
      const text = number(value, DECIMALS[quantity] ?? 1)
      if (!unit) return text
      return unit === '%' ? `${text}%` : `${text} ${unit}`
    },
    number,
    /** "14:05" */
    time: (ms) => time.format(ms),
    /** "za 29 nov 14:05" ("do 14 jul 2016 15:05" outside the current year) */
    dateTime: (ms) => (thisYear(ms) ? dateTime : dateTimeYear).format(ms),
    /** "29 nov, 14:05" (table rows; with the year outside the current year) */
    stamp: (ms) => (thisYear(ms) ? stamp : stampYear).format(ms),
    /** "za 29 nov" (with the year outside the current year) */
    day: (ms) => (thisYear(ms) ? dayMonth : dayMonthYear).format(ms),
    /** "8 juli 2018 23:58" (always with the year) */
    longDate: (ms) => longDate.format(ms),
    /** "za 29" (chart axis) */
    shortDay: (ms) => shortDay.format(ms),
    /** true at 00:00 Dutch time */
    isMidnight: (ms) => hourMinute.format(ms) === '00:00',
    /** "14:05" today, else "za 29 nov 14:05". */
    when(ms, now = Date.now()) {
      return dayKey.format(ms) === dayKey.format(now) ? time.format(ms) : fmt.dateTime(ms)
    },
  }
  return fmt
}
