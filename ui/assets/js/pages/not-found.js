// Any other address: a page that is not there.

import { h } from '../ui.js';

export function notFound(main, _p, ctx) {
  ctx.title('Not found');
  main.append(h('div', { class: 'empty-state' }, h('h2', null, 'Nothing here'),
    h('p', null, 'This address is not a page of the console. ', h('a', { href: '#/' }, 'Go to the clusters.'))));
  ctx.done('notfound');
}
