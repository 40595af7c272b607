import { Sequelize, type Transaction } from 'sequelize'
import type { SqlClient } from '../../../src/index.js'
import { describeClient } from './conformance.js'

const connect = (url: string) => new Sequelize(url, { logging: false, pool: { max: 3 } })

const insertOrder = async (sequelize: Sequelize, transaction: Transaction, id: number) => {
  await sequelize.query('insert into orders (id, customer, total_cents) values ($1, $2, $3)', {
    bind: [id, 'c', 1],
    transaction,
  })
}

describeClient<Transaction>('Sequelize (managed transaction)', async (url) => {
  const sequelize = connect(url)
  return {
    transaction: (work) => sequelize.transaction(work),
    insertOrder: (t, id) => insertOrder(sequelize, t, id),
    async outside() {
      const committed = await sequelize.transaction()
      await committed.commit()
      return { 'the Sequelize instance': sequelize, 'a committed transaction': committed }
    },
    close: () => sequelize.close(),
  }
})

describeClient<Transaction>('Sequelize (unmanaged transaction)', async (url) => {
  const sequelize = connect(url)
  return {
    async transaction(work) {
      const t = await sequelize.transaction()
      try {
        const result = await work(t)
        await t.commit()
        return result
      } catch (error) {
        await t.rollback()
        throw error
      }
    },
    insertOrder: (t, id) => insertOrder(sequelize, t, id),
    async outside() {
      const rolledBack = await sequelize.transaction()
      await rolledBack.rollback()
      return { 'a rolled-back transaction': rolledBack }
    },
    close: () => sequelize.close(),
  }
})

export function refusedAtCompileTime(sequelize: Sequelize): SqlClient[] {
  // @ts-expect-error the Sequelize instance runs each statement outside the caller's transaction
  return [sequelize]
}
