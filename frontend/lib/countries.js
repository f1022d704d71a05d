// Countries by ISO code with their names in the browser's language (Intl.DisplayNames), and the country the
// browser's locale names ("fr-FR" -> FR): the default for reading phone numbers written without their + code.

const NOT_COUNTRIES = new Set([
  'EU',
  'EZ',
  'UN',
  'QO',
  'XA',
  'XB',
  'ZZ',
  'AA',
  'QM',
  'QN',
  'QP',
  'QQ',
  'QR',
  'QS',
  'QT',
  'QU',
  'QV',
  'QW',
  'QX',
  'QY',
  'QZ',
  'XK',
]);
let cached = null;

/** [[code, name]] sorted by name. */
export function countries() {
  if (cached) return cached;
  const names = new Intl.DisplayNames([navigator.language || 'en'], { type: 'region', fallback: 'none' });
  const out = [];
  for (let a = 65; a <= 90; a += 1) {
    for (let b = 65; b <= 90; b += 1) {
      const code = String.fromCharCode(a, b);
      if (NOT_COUNTRIES.has(code)) continue;
      let name;
      try {
        name = names.of(code);
      } catch {
        name = undefined;
      }
      if (name && name !== code) out.push([code, name]);
    }
  }
  cached = out.sort((x, y) => x[1].localeCompare(y[1]));
  return cached;
}

export function countryName(code) {
  return (countries().find(([c]) => c === code) || [code, code])[1];
}

/** The browser's own country (from its language setting), or null. */
export function browserCountry() {
  for (const tag of navigator.languages || [navigator.language]) {
    try {
      const region = new Intl.Locale(tag).maximize().region;
      if (region && /^[A-Z]{2}$/.test(region)) return region;
    } catch {
      /* not a locale tag */
    }
  }
  return null;
}
