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

describeClient<EntityManager>('MikroORM', async (url) => {
  const orm = await MikroORM.init({ clientUrl: url, entities: [OrderSchema], pool: { max: 3 }, debug: false })
  return {
    transaction: (work) => orm.em.fork().transactional((em) => work(em as EntityManager)),
    insertOrder: async (em, id) => {
      em.persist(em.create(OrderSchema, { id, customer: 'c', totalCents: 1 }))
      await em.flush()
    },
    outside: async () => ({ 'a forked EntityManager outside a transaction': orm.em.fork() }),
    close: () => orm.close(),
  }
})
