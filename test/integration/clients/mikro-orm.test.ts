import type { EntityManager } from '@mikro-orm/postgresql'
import { EntitySchema, MikroORM } from '@mikro-orm/postgresql'
import { describeClient } from './conformance.js'

interface Order {
  id: number
  customer: string
  totalCents: number
}

const OrderSchema = new EntitySchema<Order>({
  name: 'Order',
  tableName: 'orders',
  properties: {
    id: { type: 'number', primary: true, autoincrement: false },
    customer: { type: 'string' },
    totalCents: { type: 'number', fieldName: 'total_cents' },
  },
})

const connect = (url: string) =>
  MikroORM.init({ clientUrl: url, entities: [OrderSchema], pool: { max: 3 }, debug: false })

const insertOrder = async (em: EntityManager, id: number) => {
  em.persist(em.create(OrderSchema, { id, customer: 'c', totalCents: 1 }))
  await em.flush()
}

describeClient<EntityManager>('MikroORM', async (url) => {
  const orm = await connect(url)
  return {
    transaction: (work) => orm.em.fork().transactional((em) => work(em as EntityManager)),
    insertOrder,
    outside: async () => ({ 'a forked EntityManager outside a transaction': orm.em.fork() }),
    close: () => orm.close(),
  }
})

describeClient<EntityManager>('MikroORM (begin and commit)', async (url) => {
  const orm = await connect(url)
  return {
    async transaction(work) {
      const em = orm.em.fork()
      await em.begin()
      try {
        const result = await work(em)
        await em.commit()
        return result
      } catch (error) {
        await em.rollback()
        throw error
      }
    },
    insertOrder,
    outside: async () => ({ 'a forked EntityManager before begin()': orm.em.fork() }),
    close: () => orm.close(),
  }
})
