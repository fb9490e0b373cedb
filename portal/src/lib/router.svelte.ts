/** A tiny hash router: #/ (the board), #/equipment/<tag>, #/sign-in. */
export type Route = { name: 'board' } | { name: 'equipment'; tag: string } | { name: 'sign-in' };

function parse(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const m = /^\/equipment\/(.+)$/.exec(path);
  if (m) {
    try {
      return { name: 'equipment', tag: decodeURIComponent(m[1]!) };
    } catch {
      return { name: 'board' };
    }
  }
  if (path === '/sign-in') return { name: 'sign-in' };
  return { name: 'board' };
}

class Router {
  route = $state<Route>(parse(location.hash));

  constructor() {
    window.addEventListener('hashchange', () => {
      this.route = parse(location.hash);
    });
  }
}

export const router = new Router();

export const href = {
  board: '#/',
  equipment: (tag: string) => `#/equipment/${encodeURIComponent(tag)}`,
};
