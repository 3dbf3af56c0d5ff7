/**
 * What an app developer writes with a client generated from the gateway's merged OpenAPI
 * (openapi-typescript types, openapi-fetch calls): every value below has its real type,
 * with no cast, no non-null assertion and no escape to an untyped value.
 * tests/test_client_contract.py copies it beside ./paddock.d.ts, generated from the merged
 * document (`openapi-typescript --default-non-nullable false`), and runs
 * `tsc --strict --noEmit`: a document change that breaks an app fails CI.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./paddock";

type Schemas = components["schemas"];

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });

/** A form's messages by field (`password`, `email`), from a 422's `errors`. */
export function fieldMessages(problem: Schemas["ProblemDocument"]): Map<string, string> {
  const messages = new Map<string, string>();
  for (const fieldError of problem.errors ?? []) {
    const [, ...field] = fieldError.loc; // the first entry says where: body, query, path
    messages.set(field.join("."), `${fieldError.msg} (${fieldError.type})`);
  }
  return messages;
}

export type SignUpResult =
  | { account: Schemas["UserPublic"] }
  | { fieldErrors: Map<string, string> }
  | { problem: Schemas["ProblemDocument"] };

export async function signUp(email: string, password: string): Promise<SignUpResult> {
  const { data, error, response } = await api.POST("/v1/auth/register", {
    body: { email, password, display_name: "Ada" },
  });
  if (data) {
    const roles: Schemas["Role"][] = data.roles;
    console.log(`welcome ${data.display_name}, ${roles.join(", ")}`);
    return { account: data };
  }
  if (response.status === 422) {
    return { fieldErrors: fieldMessages(error) };
  }
  return { problem: error };
}

export async function logIn(email: string, password: string): Promise<string> {
  const { data, error } = await api.POST("/v1/auth/login", { body: { email, password } });
  if (error) {
    const retryAfter = error.status === 429 ? "try again later: " : "";
    throw new Error(`${retryAfter}${error.detail} at ${error.instance} (${error.type})`);
  }
  const tokenType: "bearer" = data.token_type;
  console.log(`${tokenType} token, ${data.expires_in} s`);
  return data.access_token;
}

export async function homeScreen(accessToken: string): Promise<string[]> {
  const { data, error } = await api.GET("/v1/me/home", {
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  if (error) {
    throw new Error(error.detail);
  }
  const lines: string[] = [`hello ${data.profile.display_name}`];
  const wallet: Schemas["HomeWallet"] | null = data.wallet;
  if (wallet) {
    lines.push(`${wallet.points} points, community value ${wallet.community_value}`);
  }
  for (const signup of data.signups?.items ?? []) {
    const place = signup.waitlist_position === null ? "" : ` #${signup.waitlist_position}`;
    const status: Schemas["SignupStatus"] = signup.status;
    lines.push(`${signup.event_title} on ${signup.event_starts_at}: ${status}${place}`);
  }
  for (const post of data.feed?.items ?? []) {
    const badge = post.official ? "[official] " : "";
    const author = post.author.display_name ?? "a member";
    lines.push(`${badge}${post.text.slice(0, 80)} by ${author}, ${post.like_count} likes`);
  }
  const referrals: Schemas["HomeReferrals"] | null = data.referrals;
  if (referrals) {
    const funnel = `${referrals.leads} leads, ${referrals.deliveries} delivered`;
    lines.push(`share ${referrals.link}: ${funnel}, ${referrals.pending} rewards pending`);
  }
  const missing: Schemas["HomePartName"][] = data.unavailable;
  if (missing.length > 0) {
    lines.push(`not available right now: ${missing.join(", ")}`);
  }
  return lines;
}

export async function upcomingEventTitles(cursor: string | null): Promise<string[]> {
  const { data, error } = await api.GET("/v1/events", {
    params: { query: { limit: 20, cursor } },
  });
  if (error) {
    throw new Error(error.detail);
  }
  const next: string | null = data.next_cursor;
  const titles = data.items.map((event) => `${event.title} (${event.seats_left} seats left)`);
  return next === null ? titles : [...titles, ...(await upcomingEventTitles(next))];
}

/** A draft: the members with a default (description, eligibility, signup_mode ...) are left out. */
export async function draftWorkshop(accessToken: string, startsAt: Date): Promise<string> {
  const at = (hours: number): string => new Date(startsAt.getTime() + hours * 3_600_000).toISOString();
  const category: Schemas["Category"] = "workshop";
  const { data, error } = await api.POST("/v1/events", {
    body: {
      title: "Leather key fobs",
      category,
      city: "Oslo",
      capacity: 12,
      opens_at: at(-48),
      closes_at: at(-1),
      starts_at: at(0),
      ends_at: at(3),
    },
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  if (error) {
    throw new Error(error.detail);
  }
  const status: Schemas["EventStatus"] = data.status;
  const mine: Schemas["ViewerSignupPublic"] | null = data.my_signup;
  return `${data.title}: ${status}, ${data.seats_left} seats${mine === null ? "" : ", signed up"}`;
}

export async function signUpForEvent(
  accessToken: string,
  eventId: string,
  idempotencyKey: string,
): Promise<Schemas["SignupPublic"] | Map<string, string>> {
  const { data, error, response } = await api.POST("/v1/events/{event_id}/signups", {
    params: { path: { event_id: eventId }, header: { "Idempotency-Key": idempotencyKey } },
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  if (data) {
    const position: number | null = data.waitlist_position;
    console.log(position === null ? `seat: ${data.status}` : `waitlist #${position}`);
    return data;
  }
  if (response.status === 422) {
    return fieldMessages(error);
  }
  const retryAfter: string | null = response.headers.get("Retry-After");
  throw new Error(`${error.title}: ${error.detail}${retryAfter ? `, retry in ${retryAfter} s` : ""}`);
}
