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

const usageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/usage',
    {
      schema: {
        summary: "The caller's allowance: used and limit, today and this month (UTC)",
        response: { 200: Usage, ...errorResponses(401) }
      }
    },
    async (request) => app.repos.usage.get(request.userId)
  )
}

export default usageRoutes
