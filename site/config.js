// Where the site finds the API and sign-in. Edit this file on the static host; nothing is built from it.
//
// backends: tried in this order. The first is the primary; a backend that fails with a network
//   error or a 5xx answer is marked down, the same request goes to the next one, and the site
//   returns to the primary as soon as its health check (GET <url>/health) answers again.
//   - a path ("/api/v1") is the site's own origin, through the hosting rewrites (firebase.json);
//   - a full URL ("https://gateway.example.onrender.com/api/v1") is another origin: that server's
//     CORS_ORIGINS must list this site's origin; requests carry credentials and the visitor's
//     Firebase ID token (Authorization: Bearer), since the session cookie is the site's own.
//   Every backend must share the same store (jobs, limits): a job id from one is polled on another.
// firebase: sign-in (Firebase Authentication).
//   - apiKey: the Firebase project's Web API key (public by design; from the Firebase console);
//     empty: no sign-in (visitors are then anonymous one-off callers: they can follow their jobs,
//     and this browser remembers them, but the server lists none and cancels none).
//   - authEmulator: host:port of the Auth emulator that `make dev` starts; used only while the
//     site itself is served from localhost / 127.0.0.1, never in production.
// links.signIn: where the "sign in for more" link of a refusal goes.
// healthRecheckSeconds: how often a backend marked down is checked again.
export default {
  backends: [
    { name: "primary", url: "/api/v1" },
    // { name: "fallback", url: "https://aiart-gateway-fallback.example.com/api/v1" },
  ],
  firebase: {
    apiKey: "",
    authEmulator: "127.0.0.1:9099",
  },
  links: { signIn: "account.html" },
  healthRecheckSeconds: 15,
};
