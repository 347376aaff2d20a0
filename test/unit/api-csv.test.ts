import { describe, expect, it } from 'vitest'
import { csvCell, csvDialect, csvStream } from '../../services/api/csv.ts'

/** CSV cells of the API and the export (services/api/csv.ts): OWASP CSV injection, quoting, the ; dialect. */
describe('csv cells', () => {
  it('neutralises text starting with = + - @ tab or CR, and leaves numbers alone', () => {
    expect(csvCell('=HYPERLINK("http://evil.example","click")')).toBe(`"'=HYPERLINK(""http://evil.example"",""click"")"`)
    expect(csvCell('+31 6 1234')).toBe("'+31 6 1234")
    expect(csvCell('-2+3')).toBe("'-2+3")
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)")
    expect(csvCell('\tcmd')).toBe("'\tcmd")
    expect(csvCell(-3.5)).toBe('-3.5')
    expect(csvCell('-3.5')).toBe('-3.5') // the export passes its values as text
    expect(csvCell('-1e-7')).toBe('-1e-7')
    expect(csvCell('-1+1')).toBe("'-1+1")
    expect(csvCell(-3.5, ';', true)).toBe('-3,5')
    expect(csvCell('SDS011')).toBe('SDS011')
    expect(csvCell(null)).toBe('')
    expect(csvCell(true)).toBe('true')
  })

  it('quotes cells holding the separator, and picks the dialect from sep or Accept-Language', async () => {
    expect(csvCell('a;b', ';')).toBe('"a;b"')
    expect(csvCell('a;b', ',')).toBe('a;b')
    expect(csvDialect(undefined, 'nl-NL,nl;q=0.9')).toEqual({ separator: ';', decimalComma: true })
    expect(csvDialect(undefined, 'en-US,nl;q=0.5')).toEqual({ separator: ',', decimalComma: false })
    expect(csvDialect(',', 'nl')).toEqual({ separator: ',', decimalComma: false })
    let text = ''
    for await (const chunk of csvStream(['model', 'value'], [['=1+1', 1.25]], (r) => r, csvDialect(';', undefined))) text += chunk
    expect(text).toBe("model;value\n'=1+1;1,25\n")
  })
})
