import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { HttpError } from '../errors.ts'
import { EMAIL, errorResponses } from './schemas.ts'

const PreferenceValue = Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Boolean(), Type.Null()])
const Preferences = Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), PreferenceValue, {
  maxProperties: 32,
  additionalProperties: false,
  description: 'settings of the app, such as `default_council`; a null value removes the key'
})

const Profile = Type.Object({
  user_id: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  display_name: Type.Union([Type.String(), Type.Null()]),
  avatar_url: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.Literal('admin'), Type.Literal('user'), Type.Null()]),
  preferences: Preferences
})

const ProfilePatch = Type.Object(
  {
    display_name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
    email: Type.Optional(Type.Union([EMAIL, Type.Null()])),
    preferences: Type.Optional(Preferences)
  },
  { additionalProperties: false, minProperties: 1 }
)

/**
 * /api/users/profile: the caller's display name, email and preferences. With an account, the email is
 * the one it signs in with (unique); other users' email is only what they say about themselves.
 */
const profileRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { accounts, profiles } = app.repos
  const read = async (userId: string) => {
    const [profile, account] = await Promise.all([profiles.get(userId), accounts.get(userId)])
    return { user_id: userId, ...profile, email: account ? account.email : profile.email, role: account?.role ?? null }
  }

  app.get('/users/profile', { schema: { summary: "The caller's profile", response: { 200: Profile, ...errorResponses(401) } } }, async (request) => read(request.userId))

  app.patch(
    '/users/profile',
    { schema: { summary: "Change the caller's profile (only the fields given)", body: ProfilePatch, response: { 200: Profile, ...errorResponses(400, 401, 409) } } },
    async (request) => {
      const { display_name, email, preferences } = request.body
      const account = await accounts.get(request.userId)
      if (account && email !== undefined) {
        if (email === null) throw new HttpError(400, 'body/email cannot be removed from an account: it signs in with it')
        if (!(await accounts.setEmail(request.userId, email))) throw new HttpError(409, 'another account has this email')
      }
      const displayName = display_name === undefined ? undefined : display_name?.trim() || null
      await profiles.update(request.userId, { displayName, email: account ? undefined : email, preferences })
      return read(request.userId)
    }
  )
}

export default profileRoutes
