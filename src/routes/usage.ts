import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { errorResponses } from './schemas.ts'

export const Usage = Type.Object({
  tier: Type.String(),
  daily_used: Type.Integer(),
  daily_limit: Type.Union([Type.Integer(), Type.Null()], { description: 'null: unlimited' }),
  monthly_used: Type.Integer(),
  monthly_limit: Type.Union([Type.Integer(), Type.Null()], { description: 'null: unlimited' }),
  total_queries: Type.Integer(),
  daily_resets_at: Type.String({ format: 'date-time' }),
  monthly_resets_at: Type.String({ format: 'date-time' })
})

const Tokens = Type.Object({
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  cost: Type.Number({ description: "as the provider reports it (OpenRouter: US dollars); calls that reported none are left out" }),
  calls: Type.Integer(),
  unknown_calls: Type.Integer({ description: 'calls whose provider reported no usage' })
})

const usageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/usage',
    {
      schema: {
        summary: "The caller's allowance: used and limit, today and this month (UTC)",
        response: {
          200: Type.Composite([
            Usage,
            Type.Object({
              tokens: Type.Object({ today: Tokens, month: Tokens }),
              monthly_cost_limit: Type.Union([Type.Number(), Type.Null()], { description: "the tier's monthly cost budget; null: none" })
            })
          ]),
          ...errorResponses(401)
        }
      }
    },
    async (request) => {
      const [figures, tokens] = await Promise.all([app.repos.usage.get(request.userId), app.repos.usage.tokens(request.userId)])
      return { ...figures, tokens, monthly_cost_limit: app.repos.usage.costLimit(figures.tier) }
    }
  )
}

export default usageRoutes
