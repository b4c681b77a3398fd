import { PropertyRegistry } from "./registry.ts";
import { webdavProps } from "./webdav.ts";
import { caldavProps } from "./caldav.ts";
import { appleProps } from "./apple.ts";

export function defaultProperties(): PropertyRegistry {
  return new PropertyRegistry().register(...webdavProps, ...caldavProps, ...appleProps);
}
