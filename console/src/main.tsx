import { render } from "preact";
import { useMemo, useState } from "preact/hooks";
import { Api } from "./api/client";
import { Auth } from "./auth";
import { loadConfig, type ConsoleConfig } from "./config";
import { Problem } from "./components/common";
import { JobList } from "./pages/JobList";
import { JobPage } from "./pages/JobPage";
import { Submit } from "./pages/Submit";
import { useRoute } from "./router";
import "./style.css";

function App({ config, auth }: { config: ConsoleConfig; auth: Auth }) {
  const route = useRoute();
  const [signedIn] = useState(() => auth.token() !== null);
  const api = useMemo(() => new Api(config.apiUrl, () => auth.token()), [config]);
  const signIn = () => void auth.signIn();
  const here = route.page === "job" ? "jobs" : route.page;

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">CPE console</span>
        {signedIn ? (
          <nav aria-label="Main">
            <a href="#/jobs" aria-current={here === "jobs" ? "page" : undefined}>
              Jobs
            </a>
            <a href="#/submit" aria-current={here === "submit" ? "page" : undefined}>
              Submit
            </a>
          </nav>
        ) : null}
        {signedIn ? (
          <span class="who">
            <span class="muted">{auth.name}</span>
            <button type="button" onClick={() => void auth.signOut()}>
              Sign out
            </button>
          </span>
        ) : null}
      </header>
      {!signedIn ? (
        <main id="main" tabIndex={-1} class="signin">
          <h1>Sign in</h1>
          <p>Sign in to see and submit your jobs.</p>
          <button type="button" class="primary" onClick={signIn}>
            Sign in
          </button>
        </main>
      ) : route.page === "jobs" ? (
        // A new query is a new list: its page tokens are bound to the query that made them.
        <JobList key={route.query.toString()} api={api} query={route.query} onSignIn={signIn} />
      ) : route.page === "job" ? (
        <JobPage api={api} jobId={route.jobId} onSignIn={signIn} />
      ) : route.page === "submit" ? (
        <Submit api={api} onSignIn={signIn} />
      ) : (
        <main id="main" tabIndex={-1}>
          <h1>Not found</h1>
          <p>
            There is no page {route.path}. <a href="#/jobs">See your jobs.</a>
          </p>
        </main>
      )}
    </>
  );
}

async function start(root: HTMLElement): Promise<void> {
  try {
    const config = await loadConfig();
    const auth = new Auth(config.auth);
    await auth.start();
    root.textContent = "";
    render(<App config={config} auth={auth} />, root);
  } catch (error) {
    root.textContent = "";
    render(
      <main id="main" tabIndex={-1}>
        <h1>The console could not start</h1>
        <Problem error={error} />
        <p>
          <a href={location.pathname}>Try again</a>
        </p>
      </main>,
      root,
    );
  }
}

void start(document.getElementById("app") as HTMLElement);
