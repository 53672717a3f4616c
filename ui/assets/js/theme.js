// The colour theme: auto (the browser's setting), light or dark, kept in localStorage and
// shown as data-theme on <html> (set before the first paint by theme-boot.js); a
// `themechange` event on window when the colours change.

const KEY = 'bosun.theme';
const CHOICES = ['auto', 'light', 'dark'];
const darkMedia = window.matchMedia('(prefers-color-scheme: dark)');

/** The stored choice: 'auto', 'light' or 'dark'. */
export function themeChoice() {
  let v = null;
  try { v = localStorage.getItem(KEY); } catch { /* storage refused: auto */ }
  return CHOICES.includes(v) ? v : 'auto';
}

/** The theme on screen now: 'light' or 'dark'. */
export function shownTheme() {
  const c = themeChoice();
  return c === 'auto' ? (darkMedia.matches ? 'dark' : 'light') : c;
}

function apply(choice) {
  // The theme shown, auto resolved: the stylesheet reads only the attribute.
  document.documentElement.dataset.theme = shownTheme();
  window.dispatchEvent(new CustomEvent('themechange', { detail: { theme: shownTheme(), choice } }));
}

export function setTheme(choice) {
  const c = CHOICES.includes(choice) ? choice : 'auto';
  try {
    if (c === 'auto') localStorage.removeItem(KEY); else localStorage.setItem(KEY, c);
  } catch { /* kept for this page only */ }
  apply(c);
}

/** A CSS variable's value as the page shows it now. */
export const cssVar = name => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** The top bar's switch: a <select> of auto / light / dark. */
export function themeSwitch() {
  const sel = document.createElement('select');
  sel.id = 'theme-switch';
  sel.className = 'theme-switch compact';
  sel.title = 'Colour theme';
  sel.setAttribute('aria-label', 'Colour theme');
  for (const [value, label] of [['auto', 'Auto'], ['light', 'Light'], ['dark', 'Dark']]) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = label;
    sel.append(o);
  }
  sel.value = themeChoice();
  sel.addEventListener('change', () => setTheme(sel.value));
  return sel;
}

darkMedia.addEventListener('change', () => { if (themeChoice() === 'auto') apply('auto'); });
apply(themeChoice());
