// Runs before the first paint (a classic script in <head>, not a module): puts the theme
// that will be shown on <html> as data-theme, so that a stored choice or the browser's
// dark setting never flashes the other theme. theme.js keeps it up to date afterwards.
(function () {
  var choice = null;
  try { choice = localStorage.getItem('bosun.theme'); } catch (e) { /* storage refused: auto */ }
  if (choice !== 'light' && choice !== 'dark') {
    choice = window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }
  document.documentElement.setAttribute('data-theme', choice);
}());
