import { PropertyRegistry } from "./registry.ts";
import { webdavProps } from "./webdav.ts";
import { caldavProps } from "./caldav.ts";
import { appleProps } from "./apple.ts";
import { pushProps } from "./push.ts";

export function defaultProperties(): PropertyRegistry {
  return new PropertyRegistry().register(...webdavProps, ...caldavProps, ...appleProps, ...pushProps);
}
