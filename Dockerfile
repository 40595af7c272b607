# The relay as a container: `docker run postbox --config /app/config/postbox.config.ts relay`
# runs `postbox <command>`; the default command is `relay`. Node 22 LTS (tested on 22 and 24). Connection settings come from
# DATABASE_URL, KAFKA_BROKERS and SCHEMA_REGISTRY_URL (see docker-compose.yml).

FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no lifecycle script is needed to install; `npm run build` compiles below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
RUN npm run build

FROM node:22-slim
WORKDIR /app
COPY package.json package-lock.json ./
# Config files are usually TypeScript (postbox.config.ts importing the app's event definitions),
# and loading one needs tsx, a devDependency of the package. It is made a runtime dependency of
# the image only, at the version package.json asks for; the other devDependencies stay out.
# An .mjs or .js config would not need it.
RUN npm pkg set "dependencies.tsx=$(npm pkg get devDependencies.tsx | tr -d '"')" \
  && npm pkg delete devDependencies.tsx \
  && npm install --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
# The library's sources, for TypeScript configs that import it by path as
# examples/orders/postbox.config.ts does. A config mounted under /app can also import 'postbox'.
COPY src ./src
USER node
EXPOSE 9464
ENTRYPOINT ["node", "dist/bin/postbox.js"]
CMD ["relay"]
