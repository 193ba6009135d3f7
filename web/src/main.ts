// The operator's page: asks for the API key (kept for this tab only), then shows the live alerts,
// the gallery and the cameras. A key the service refuses, at sign-in or later, brings the key form
// back with the service's reason.
import { AlertFeed } from './alerts.ts';
import { Api, ApiError, storedKey } from './api.ts';
import { CamerasView } from './cameras.ts';
import { byId } from './dom.ts';
import { GalleryView } from './gallery.ts';
import { HistoryView } from './history.ts';
import { TrainView } from './train.ts';

type Tab = 'alerts' | 'history' | 'train' | 'gallery' | 'cameras';
const TABS: Tab[] = ['alerts', 'history', 'train', 'gallery', 'cameras'];

interface Session {
  feed: AlertFeed;
  history: HistoryView;
  train: TrainView;
  gallery: GalleryView;
  cameras: CamerasView;
}

const login = {
  section: byId('login'),
  form: byId<HTMLFormElement>('login-form'),
  key: byId<HTMLInputElement>('api-key'),
  error: byId('login-error'),
  submit: byId<HTMLButtonElement>('login-submit'),
};
const app = byId('app');
let session: Session | undefined;
let currentTab: Tab = 'alerts';

function showLogin(message = ''): void {
  session?.feed.stop();
  session?.history.stop();
  session?.train.stop();
  session?.gallery.stop();
  session?.cameras.stop();
  session = undefined;
  storedKey.clear();
  app.hidden = true;
  login.section.hidden = false;
  login.error.textContent = message;
  login.key.value = '';
  login.key.focus();
}

function start(key: string, api: Api): void {
  login.section.hidden = true;
  app.hidden = false;
  api.onUnauthorized = (message) => showLogin(`The service refused the key: ${message}. Enter the key again.`);
  const feed = new AlertFeed(api, key);
  // Feedback can add an identity or a photo: the gallery (and every identity menu) follows.
  const galleryChanged = () => void session?.gallery.refresh();
  const history = new HistoryView(api, galleryChanged);
  const train = new TrainView(api, galleryChanged);
  session = {
    feed,
    history,
    train,
    gallery: new GalleryView(api, (identities) => {
      feed.setIdentities(identities);
      history.setIdentities(identities);
      train.setIdentities(identities);
    }),
    cameras: new CamerasView(api, (names) => {
      feed.setCameras(names);
      history.setCameras(names);
      train.setCameras(names);
    }),
  };
  showTab(currentTab);
}

/** Checks the key with one authenticated request before using it. */
async function signIn(key: string): Promise<void> {
  const api = new Api(key);
  login.submit.disabled = true;
  login.error.textContent = 'Checking the key…';
  try {
    await api.cameras();
    storedKey.set(key);
    login.error.textContent = '';
    start(key, api);
  } catch (err) {
    const refused = err instanceof ApiError && err.status === 401;
    showLogin(refused ? `The service refused this key: ${err.message}.` : `Cannot sign in: ${(err as Error).message}`);
  } finally {
    login.submit.disabled = false;
  }
}

function showTab(tab: Tab): void {
  currentTab = tab;
  for (const name of TABS) {
    byId(`panel-${name}`).hidden = name !== tab;
    const button = byId(`tab-${name}`);
    if (name === tab) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  session?.cameras.setVisible(tab === 'cameras');
  // Another process (`unmask enroll`) may have changed the gallery since it was last shown.
  if (tab === 'gallery') void session?.gallery.refresh();
  if (tab === 'history') session?.history.show();
  if (tab === 'train') session?.train.show();
}

for (const tab of TABS) byId(`tab-${tab}`).addEventListener('click', () => showTab(tab));
byId('sign-out').addEventListener('click', () => showLogin('Key forgotten: enter it again to continue.'));
login.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = login.key.value.trim();
  if (key) void signIn(key);
});

const remembered = storedKey.get();
if (remembered) void signIn(remembered);
else showLogin();
