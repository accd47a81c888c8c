import { type TSchema, Type } from '@sinclair/typebox'
import { MAX_COUNCIL_MODELS } from '../config.ts'
import { CONVERSATION_ID_MAX_LENGTH, CONVERSATION_ID_PATTERN, EMAIL_MAX_LENGTH } from '../domain.ts'

export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    message: Type.String(),
    requestId: Type.String(),
    code: Type.Optional(Type.String())
  },
  { $id: 'ErrorBody', additionalProperties: true }
)

/** A conversation's id, or the id it had before it was imported (such as `legacy-1`): see conversationKey. */
export const IdParams = Type.Object(
  { id: Type.String({ maxLength: CONVERSATION_ID_MAX_LENGTH, pattern: CONVERSATION_ID_PATTERN, description: "the conversation's UUID, or the id an imported conversation had" }) },
  { additionalProperties: false }
)

export const ConversationMeta = Type.Object({
  id: Type.String({ format: 'uuid' }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  title: Type.String(),
  message_count: Type.Integer(),
  starred: Type.Boolean()
})

// Stage data is stored and returned exactly as the council (or an imported file) wrote it.
const Json = Type.Unknown()

export const UserMessage = Type.Object({
  role: Type.Literal('user'),
  kind: Type.Optional(Type.Literal('follow_up', { description: 'facts or answers sent without a council run; absent on questions' })),
  content: Type.String(),
  created_at: Type.String({ format: 'date-time' })
})

const ModelName = Type.String({ minLength: 1, maxLength: 200 })

/** A conversation's choice of council: a preset, and/or its own models, chairman, and whether members rank each other. */
export const ChosenCouncil = Type.Object(
  {
    preset: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'a name GET /api/council lists' })),
    models: Type.Optional(Type.Array(ModelName, { minItems: 1, maxItems: MAX_COUNCIL_MODELS, uniqueItems: true })),
    chairman: Type.Optional(ModelName),
    stage2: Type.Optional(Type.Boolean({ description: 'false: no peer review; the chairman sees the answers only' }))
  },
  { additionalProperties: false }
)

export const AssistantMessage = Type.Object({
  role: Type.Literal('assistant'),
  stage1: Json,
  stage2: Json,
  stage3: Json,
  metadata: Json,
  created_at: Type.String({ format: 'date-time' })
})

const CouncilChoice = Type.Union([ChosenCouncil, Type.Null()], { description: "the conversation's council; null: the server's default" })

export const ConversationWithCouncil = Type.Composite([ConversationMeta, Type.Object({ council: CouncilChoice })])

export const Conversation = Type.Composite([
  ConversationMeta,
  Type.Object({
    council: Type.Optional(CouncilChoice),
    run: Type.Union(
      [
        Type.Object({ id: Type.String({ format: 'uuid' }), state: Type.Literal('running'), question_position: Type.Integer(), started_at: Type.String({ format: 'date-time' }) }),
        Type.Null()
      ],
      { description: 'the run answering now: follow it with GET /api/conversations/{id}/runs/{run.id}/events' }
    ),
    messages: Type.Array(Type.Union([UserMessage, AssistantMessage]))
  })
])

/** Responses every authenticated route can give besides its own. */
export const errorResponses = (...codes: number[]): Record<number, TSchema> =>
  Object.fromEntries(codes.map((code) => [code, Type.Ref(ErrorBody)]))

/** An email address: a light check (something@something), as the address is only ever compared, never mailed. */
export const EMAIL = Type.String({ minLength: 3, maxLength: EMAIL_MAX_LENGTH, pattern: '^[^\\s@]+@[^\\s@]+$' })
