import { DataSource, type EntityManager, type QueryRunner } from 'typeorm'
import type { SqlClient } from '../../../src/index.js'
import { describeClient } from './conformance.js'

const insertOrder = async (handle: EntityManager | QueryRunner, id: number) => {
  await handle.query('insert into orders (id, customer, total_cents) values ($1, $2, $3)', [id, 'c', 1])
}

async function connect(url: string) {
  const dataSource = new DataSource({ type: 'postgres', url, poolSize: 3 })
  await dataSource.initialize()
  return dataSource
}

describeClient<EntityManager>('TypeORM (EntityManager)', async (url) => {
  const dataSource = await connect(url)
  return {
    transaction: (work) => dataSource.transaction(work),
    insertOrder,
    outside: async () => ({
      'the DataSource': dataSource,
      "the DataSource's manager": dataSource.manager,
      'a QueryRunner before startTransaction()': dataSource.createQueryRunner(),
    }),
    close: () => dataSource.destroy(),
  }
})

describeClient<QueryRunner>('TypeORM (QueryRunner)', async (url) => {
  const dataSource = await connect(url)
  return {
    async transaction(work) {
      const runner = dataSource.createQueryRunner()
      await runner.connect()
      await runner.startTransaction()
      try {
        const result = await work(runner)
        await runner.commitTransaction()
        return result
      } catch (error) {
        await runner.rollbackTransaction()
        throw error
      } finally {
        await runner.release()
      }
    },
    insertOrder,
    outside: async () => ({ 'a QueryRunner before startTransaction()': dataSource.createQueryRunner() }),
    close: () => dataSource.destroy(),
  }
})

export function refusedAtCompileTime(dataSource: DataSource): SqlClient[] {
  // @ts-expect-error the DataSource runs each statement outside the caller's transaction
  return [dataSource]
}
